-- 0002: what central ingests and serves: typed event tables, camera
-- status, face observations, dead letters, rollups, lines and zones, users
-- and refresh tokens, retention settings.

-- Lines and zones are configured per camera in central and pushed to the
-- edge as the retained config message; config_version orders the pushes.
ALTER TABLE cameras ADD COLUMN config_version bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN cameras.config_version IS 'Bumped on every change of the camera''s lines or zones; the edge applies only newer versions.';

CREATE TABLE lines (
    camera_id   text NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    id          text NOT NULL CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    name        text,
    a_x         real NOT NULL CHECK (a_x BETWEEN 0 AND 1),
    a_y         real NOT NULL CHECK (a_y BETWEEN 0 AND 1),
    b_x         real NOT NULL CHECK (b_x BETWEEN 0 AND 1),
    b_y         real NOT NULL CHECK (b_y BETWEEN 0 AND 1),
    in_side     text NOT NULL CHECK (in_side IN ('left', 'right')),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camera_id, id)
);
COMMENT ON TABLE lines IS 'Counting lines: a segment a-b in normalised frame coordinates (0..1); crossing towards in_side (as seen on screen looking from a to b) is IN.';

CREATE TABLE zones (
    camera_id      text NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    id             text NOT NULL CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    name           text,
    polygon        jsonb NOT NULL,
    max_occupancy  integer CHECK (max_occupancy >= 0),
    restricted     boolean NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (camera_id, id)
);
COMMENT ON TABLE zones IS 'Zones: a polygon ([[x,y],...], normalised) with an optional occupancy limit and an entry ban.';

CREATE TABLE line_crossings (
    ts          timestamptz NOT NULL,
    event_id    uuid NOT NULL,
    camera_id   text NOT NULL,
    line_id     text NOT NULL,
    direction   text NOT NULL CHECK (direction IN ('in', 'out')),
    track       bigint NOT NULL,
    PRIMARY KEY (ts, event_id)
);
COMMENT ON TABLE line_crossings IS 'One row per line_crossed event (hypertable). Rows are inserted with ON CONFLICT DO NOTHING and only newly inserted rows update crossing_rollups, so the rollups count every crossing exactly once.';
SELECT create_hypertable('line_crossings', by_range('ts', INTERVAL '1 day'));
CREATE INDEX line_crossings_camera_ts_idx ON line_crossings (camera_id, ts DESC);

CREATE TABLE crossing_rollups (
    resolution  text NOT NULL CHECK (resolution IN ('minute', 'hour')),
    bucket      timestamptz NOT NULL,
    camera_id   text NOT NULL,
    line_id     text NOT NULL,
    in_count    bigint NOT NULL DEFAULT 0,
    out_count   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (resolution, camera_id, line_id, bucket)
);
COMMENT ON TABLE crossing_rollups IS 'IN/OUT counts per camera and line per minute and per hour, maintained by ingest in the same transaction as line_crossings (the Apache-2 TimescaleDB has no continuous aggregates).';

CREATE TABLE occupancy_samples (
    ts          timestamptz NOT NULL,
    event_id    uuid NOT NULL,
    camera_id   text NOT NULL,
    in_view     integer NOT NULL,
    zones       jsonb NOT NULL,
    PRIMARY KEY (ts, event_id)
);
COMMENT ON TABLE occupancy_samples IS 'Periodic occupancy events: people in view and per zone ([{"zone","count"}]).';
SELECT create_hypertable('occupancy_samples', by_range('ts', INTERVAL '1 day'));
CREATE INDEX occupancy_samples_camera_ts_idx ON occupancy_samples (camera_id, ts DESC);

CREATE TABLE zone_events (
    ts          timestamptz NOT NULL,
    event_id    uuid NOT NULL,
    camera_id   text NOT NULL,
    zone_id     text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('entered', 'exited', 'max_occupancy', 'restricted_entry')),
    track       bigint,
    dwell_s     double precision,
    occupancy   integer,
    PRIMARY KEY (ts, event_id)
);
COMMENT ON TABLE zone_events IS 'Zone entries, exits (with dwell time) and violations.';
SELECT create_hypertable('zone_events', by_range('ts', INTERVAL '1 day'));
CREATE INDEX zone_events_zone_ts_idx ON zone_events (camera_id, zone_id, ts DESC);

CREATE TABLE camera_status_history (
    ts          timestamptz NOT NULL,
    camera_id   text NOT NULL,
    state       text NOT NULL CHECK (state IN ('online', 'degraded', 'offline')),
    reason      text,
    detail      jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (ts, camera_id)
);
COMMENT ON TABLE camera_status_history IS 'Camera state changes, plus one heartbeat per camera per minute (the edge sends one every few seconds).';
SELECT create_hypertable('camera_status_history', by_range('ts', INTERVAL '7 days'));

CREATE TABLE camera_status_current (
    camera_id   text PRIMARY KEY REFERENCES cameras (id) ON DELETE CASCADE,
    ts          timestamptz NOT NULL,
    state       text NOT NULL,
    reason      text,
    detail      jsonb NOT NULL DEFAULT '{}',
    changed_at  timestamptz NOT NULL
);
COMMENT ON TABLE camera_status_current IS 'The latest status of each camera (for /health and the dashboard); changed_at is when state last changed.';

CREATE TABLE face_observations (
    ts          timestamptz NOT NULL,
    event_id    uuid NOT NULL,
    camera_id   text NOT NULL,
    track       bigint NOT NULL,
    quality     real NOT NULL,
    bbox        real[] NOT NULL,
    model       text NOT NULL,
    embedding   vector(1024) NOT NULL,
    PRIMARY KEY (ts, event_id)
);
COMMENT ON TABLE face_observations IS 'Faces seen by the edge: L2-normalised embedding (vector) and the model that made it; recognition reads these.';
COMMENT ON COLUMN face_observations.model IS 'Embedder model id; embeddings of different models are never compared.';
SELECT create_hypertable('face_observations', by_range('ts', INTERVAL '1 day'));
CREATE INDEX face_observations_track_idx ON face_observations (camera_id, track, ts DESC);

CREATE TABLE dead_letters (
    id             bigserial PRIMARY KEY,
    received_at    timestamptz NOT NULL DEFAULT now(),
    topic          text NOT NULL,
    reason         text NOT NULL,
    payload        bytea NOT NULL,
    payload_bytes  integer NOT NULL
);
COMMENT ON TABLE dead_letters IS 'Messages ingest refused, with the reason; payload is truncated to 64 KiB (payload_bytes is the original size).';
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at DESC);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    username       text NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('super_admin', 'admin', 'facility_manager', 'security_officer', 'operator', 'viewer')),
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE users IS 'People who use the API and the web UI.';
COMMENT ON COLUMN users.password_hash IS 'argon2id PHC string.';

CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family      uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
COMMENT ON TABLE refresh_tokens IS 'Refresh tokens (only their SHA-256 is stored). Each use issues a new token in the same family and marks the old one used; presenting a used token revokes the whole family (token theft).';
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family);

CREATE TABLE retention (
    table_name  text PRIMARY KEY,
    keep        interval NOT NULL CHECK (keep > INTERVAL '0')
);
COMMENT ON TABLE retention IS 'How long central keeps rows: hypertables lose whole chunks older than keep (drop_chunks); dead_letters and the per-minute crossing rollups (crossing_rollups_minute) are deleted row by row. Hourly rollups are kept.';
INSERT INTO retention (table_name, keep) VALUES
    ('events', INTERVAL '90 days'),
    ('line_crossings', INTERVAL '400 days'),
    ('occupancy_samples', INTERVAL '90 days'),
    ('zone_events', INTERVAL '400 days'),
    ('camera_status_history', INTERVAL '90 days'),
    ('face_observations', INTERVAL '30 days'),
    ('dead_letters', INTERVAL '30 days'),
    ('crossing_rollups_minute', INTERVAL '35 days');

CREATE INDEX camera_status_history_camera_ts_idx ON camera_status_history (camera_id, ts DESC);
