-- Building systems: the devices registry, what devices publish (one
-- hypertable per family of data), their lifecycle, and the power
-- rollups central maintains in the ingest transaction (the Apache-2
-- TimescaleDB has no continuous aggregates). The wire contract is
-- docs/ref/mqtt.md, "Building systems' payloads".

CREATE TABLE devices (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    site_id     text NOT NULL REFERENCES sites (id),
    kind        text NOT NULL CHECK (kind IN ('power_meter', 'lighting', 'lift', 'access', 'fire')),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    location    text CHECK (length(location) <= 200),
    floor       int CHECK (floor BETWEEN -50 AND 300),
    parent_id   text REFERENCES devices (id),
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS NULL OR (kind = 'power_meter' AND parent_id <> id))
);
COMMENT ON TABLE devices IS 'Building-system devices (meters, lighting controllers, lift controllers, door controllers, fire panels). id is also the common name of the device''s client certificate and its MQTT topic level; camera and device ids share that name space.';
COMMENT ON COLUMN devices.parent_id IS 'For a sub-meter: the meter upstream of it. A meter''s "unmetered" remainder is its own use minus its children''s.';
CREATE INDEX devices_site_idx ON devices (site_id, kind);
CREATE INDEX devices_parent_idx ON devices (parent_id);

CREATE TABLE device_state (
    device_id          text PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    status             text CHECK (status IN ('online', 'offline')),
    status_ts          timestamptz,
    status_received_at timestamptz,
    status_changed_at  timestamptz,
    last_seen          timestamptz,
    birth_ts           timestamptz,
    model              text,
    firmware           text,
    points             jsonb,
    interval_s         int CHECK (interval_s BETWEEN 1 AND 86400)
);
COMMENT ON TABLE device_state IS 'What central last heard from each device: its retained status as it arrived (status_ts is the device''s timestamp, which a last will set at connection time; status_received_at and status_changed_at are central''s), when central last received telemetry or an event from it (last_seen), and its birth (model, firmware, points; interval_s is the shortest publishing interval). A device is offline when its last status is offline and nothing arrived since, or when nothing arrived for three intervals (60 s without a birth).';

CREATE TABLE device_parts_current (
    device_id    text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    part         text NOT NULL,
    family       text NOT NULL CHECK (family IN ('power', 'lighting', 'lift', 'door', 'fire')),
    ts           timestamptz NOT NULL,
    state        text,
    state_since  timestamptz,
    readings     jsonb NOT NULL,
    PRIMARY KEY (device_id, part)
);
COMMENT ON TABLE device_parts_current IS 'The newest known value of every reading of each device part (a lighting circuit, a door, a fire zone; the empty string for a meter or a lift), merged across points (a point that leaves a value out keeps the one before), with the part''s state (fire zone state, lift mode, circuit on/off, door state) and since when it holds. Maintained by ingest; late points older than ts do not change it. What the status endpoints read.';

CREATE TABLE power_readings (
    ts                 timestamptz NOT NULL,
    device_id          text NOT NULL,
    seq                bigint NOT NULL,
    energy_import_kwh  float8,
    energy_export_kwh  float8,
    power_kw           float8,
    voltage_v          float8,
    current_a          float8,
    power_factor       float8,
    PRIMARY KEY (device_id, ts)
);
COMMENT ON TABLE power_readings IS 'Power meter telemetry (hypertable), one row per (device, device timestamp): a resent point is stored once.';
SELECT create_hypertable('power_readings', by_range('ts', INTERVAL '1 day'));

CREATE TABLE power_rollups (
    resolution   text NOT NULL CHECK (resolution IN ('minute', 'hour', 'day')),
    bucket       timestamptz NOT NULL,
    device_id    text NOT NULL,
    import_kwh   float8 NOT NULL,
    export_kwh   float8 NOT NULL,
    power_sum_kw float8 NOT NULL,
    samples      int NOT NULL,
    power_min_kw float8,
    power_max_kw float8,
    resets       int NOT NULL,
    PRIMARY KEY (resolution, device_id, bucket)
);
COMMENT ON TABLE power_rollups IS 'Energy used per meter per minute, hour (UTC) and day (midnight in the site''s time zone): import_kwh/export_kwh are the registers'' increases whose later reading falls in the bucket, with resets and rollovers detected (resets counts them) and never counted as negative use; power statistics over the readings in the bucket (mean = power_sum_kw / samples). Recomputed by ingest for every minute new readings touch.';

CREATE TABLE lighting_readings (
    ts             timestamptz NOT NULL,
    device_id      text NOT NULL,
    circuit        text NOT NULL,
    seq            bigint NOT NULL,
    on_state       boolean,
    level_percent  float8,
    power_kw       float8,
    PRIMARY KEY (device_id, circuit, ts)
);
SELECT create_hypertable('lighting_readings', by_range('ts', INTERVAL '1 day'));

CREATE TABLE lift_readings (
    ts         timestamptz NOT NULL,
    device_id  text NOT NULL,
    seq        bigint NOT NULL,
    floor      int,
    direction  text,
    door       text,
    mode       text,
    trips      bigint,
    PRIMARY KEY (device_id, ts)
);
SELECT create_hypertable('lift_readings', by_range('ts', INTERVAL '1 day'));

CREATE TABLE door_readings (
    ts         timestamptz NOT NULL,
    device_id  text NOT NULL,
    door       text NOT NULL,
    seq        bigint NOT NULL,
    state      text,
    locked     boolean,
    PRIMARY KEY (device_id, door, ts)
);
SELECT create_hypertable('door_readings', by_range('ts', INTERVAL '1 day'));

CREATE TABLE fire_readings (
    ts         timestamptz NOT NULL,
    device_id  text NOT NULL,
    zone       text NOT NULL,
    seq        bigint NOT NULL,
    state      text NOT NULL,
    test_mode  boolean NOT NULL,
    PRIMARY KEY (device_id, zone, ts)
);
SELECT create_hypertable('fire_readings', by_range('ts', INTERVAL '7 days'));

CREATE TABLE device_events (
    ts               timestamptz NOT NULL,
    device_id        text NOT NULL,
    seq              bigint NOT NULL,
    site_id          text NOT NULL,
    kind             text NOT NULL,
    severity         text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    ack_required     boolean NOT NULL,
    type             text NOT NULL CHECK (type IN ('access', 'alarm', 'fault')),
    door             text,
    outcome          text,
    credential_hash  text,
    direction        text,
    text             text,
    PRIMARY KEY (device_id, ts, seq)
);
COMMENT ON TABLE device_events IS 'Device events (hypertable): access decisions (door, outcome, the gateway''s SHA-256 of the credential, direction), alarms and faults. Access rows are personal data: reading them through the API is audited.';
SELECT create_hypertable('device_events', by_range('ts', INTERVAL '7 days'));
CREATE INDEX device_events_site_ts_idx ON device_events (site_id, type, ts DESC);

INSERT INTO retention (table_name, keep) VALUES
    ('power_readings', INTERVAL '90 days'),
    ('power_rollups_minute', INTERVAL '35 days'),
    ('lighting_readings', INTERVAL '90 days'),
    ('lift_readings', INTERVAL '90 days'),
    ('door_readings', INTERVAL '90 days'),
    ('fire_readings', INTERVAL '400 days'),
    ('device_events', INTERVAL '400 days');
