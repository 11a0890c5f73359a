-- 0001: the first tables: sites, cameras and the raw event log.
--
-- Everything an edge agent publishes lands in `events` first (the raw,
-- replayable record); typed tables (crossings, occupancy, faces) come in
-- later migrations. TimescaleDB here is the Apache-2 edition: hypertables,
-- time_bucket and drop_chunks only.

CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE sites (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name        text NOT NULL,
    timezone    text NOT NULL DEFAULT 'UTC',
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sites IS 'A building or campus; the first level of every MQTT topic.';
COMMENT ON COLUMN sites.id IS 'Atrium identifier (lower-case letters, digits, - and _), also an MQTT topic level.';
COMMENT ON COLUMN sites.timezone IS 'IANA time zone used for daily reports and "today" counts.';

CREATE TABLE cameras (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    site_id     text NOT NULL REFERENCES sites (id),
    name        text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE cameras IS 'A camera and its edge agent; id is unique across sites and is the common name of the agent''s client certificate.';
COMMENT ON COLUMN cameras.enabled IS 'Disabled cameras are kept for history; their events are dead-lettered.';
CREATE INDEX cameras_site_idx ON cameras (site_id);

CREATE TABLE events (
    ts           timestamptz NOT NULL,
    id           uuid NOT NULL,
    site_id      text NOT NULL,
    camera_id    text NOT NULL,
    type         text NOT NULL,
    payload      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ts, id)
);
COMMENT ON TABLE events IS 'Every accepted edge event, as received (hypertable on ts). Inserts use ON CONFLICT DO NOTHING on (ts, id), so a redelivered event is stored once.';
COMMENT ON COLUMN events.ts IS 'Capture time at the edge (UTC), the hypertable''s time column.';
COMMENT ON COLUMN events.id IS 'UUIDv7 chosen by the edge agent: the idempotency key. The primary key also holds ts because TimescaleDB requires the time column in every unique index.';
COMMENT ON COLUMN events.camera_id IS 'Camera that produced the event; no foreign key, so a COPY batch never fails on one row (ingest checks the camera before inserting).';
COMMENT ON COLUMN events.payload IS 'The whole JSON payload as published, for replay and audit.';
COMMENT ON COLUMN events.received_at IS 'When central committed the row: received_at - ts is the end-to-end lag.';
SELECT create_hypertable('events', by_range('ts', INTERVAL '1 day'));
CREATE INDEX events_camera_ts_idx ON events (camera_id, ts DESC);
CREATE INDEX events_type_ts_idx ON events (type, ts DESC);
