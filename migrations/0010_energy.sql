-- Energy management: quarter-hour power rollups (what tariffs, demand
-- charges and empty-building energy are computed from), tariffs with
-- validity periods, public holidays, emission factors and supply
-- contracts (GHG Protocol Scope 2, both methods), targets, the zones a
-- meter supplies, and each site's floor area. Design: docs/ref/energy.md.

CREATE EXTENSION IF NOT EXISTS btree_gist;

ALTER TABLE sites ADD COLUMN floor_area_m2 float8 CHECK (floor_area_m2 > 0 AND floor_area_m2 < 1e8);
COMMENT ON COLUMN sites.floor_area_m2 IS 'Gross internal floor area, for kWh/m².';

-- Quarter hours: every time zone's offset is a multiple of 15 minutes, so
-- a quarter is always inside one local quarter hour; tariff bands and
-- demand intervals are set in quarter hours. Kept as long as hours.
ALTER TABLE power_rollups DROP CONSTRAINT power_rollups_resolution_check;
ALTER TABLE power_rollups ADD CONSTRAINT power_rollups_resolution_check
    CHECK (resolution IN ('minute', 'quarter', 'hour', 'day'));
INSERT INTO power_rollups (resolution, bucket, device_id, import_kwh, export_kwh, power_sum_kw, samples, power_min_kw, power_max_kw, resets)
SELECT 'quarter', time_bucket(INTERVAL '15 minutes', bucket), device_id, sum(import_kwh), sum(export_kwh),
       sum(power_sum_kw), sum(samples), min(power_min_kw), max(power_max_kw), sum(resets)
FROM power_rollups WHERE resolution = 'minute' GROUP BY 2, 3;
-- Hours whose minute rows are gone (older than their 35 days): the hour's
-- energy spread evenly over its four quarters, so cost, KPIs and targets
-- see all of it (how it fell within the hour is not known any more).
INSERT INTO power_rollups (resolution, bucket, device_id, import_kwh, export_kwh, power_sum_kw, samples, power_min_kw, power_max_kw, resets)
SELECT 'quarter', h.bucket + q * INTERVAL '15 minutes', h.device_id, h.import_kwh / 4, h.export_kwh / 4, 0, 0, NULL, NULL, 0
FROM power_rollups h CROSS JOIN generate_series(0, 3) AS q
WHERE h.resolution = 'hour'
  AND NOT EXISTS (SELECT 1 FROM power_rollups m
                  WHERE m.resolution = 'quarter' AND m.device_id = h.device_id
                    AND m.bucket >= h.bucket AND m.bucket < h.bucket + INTERVAL '1 hour');
COMMENT ON TABLE power_rollups IS 'Energy used per meter per minute, quarter hour, hour (UTC) and day (midnight in the site''s time zone): import_kwh/export_kwh are the registers'' increases whose later reading falls in the bucket, with resets and rollovers detected (resets counts them) and never counted as negative use; power statistics over the readings in the bucket (mean = power_sum_kw / samples). Recomputed by ingest for every minute new readings touch. Quarter rows before migration 0010 come from the minute rows still kept, or, for older hours, are the hour spread evenly over its quarters.';

CREATE TABLE holidays (
    site_id  text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    day      date NOT NULL,
    name     text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    PRIMARY KEY (site_id, day)
);
COMMENT ON TABLE holidays IS 'Public holidays per site (local dates): tariffs price them as their holiday bands.';

CREATE TABLE tariffs (
    id          bigserial PRIMARY KEY,
    site_id     text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    valid_from  date NOT NULL,
    valid_to    date CHECK (valid_to > valid_from),
    definition  jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    EXCLUDE USING gist (site_id WITH =, daterange(valid_from, valid_to) WITH &&)
);
COMMENT ON TABLE tariffs IS 'Electricity tariffs of a site with their validity (local dates, valid_to exclusive, NULL open): at most one in force per day, so a period''s cost comes from the tariff that covered it and editing one tariff never changes the cost of days it does not cover. definition is validated by central (energy::tariff).';

CREATE TABLE emission_factors (
    site_id                  text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    year                     int NOT NULL CHECK (year BETWEEN 1990 AND 2100),
    location_kg_per_kwh      float8 NOT NULL CHECK (location_kg_per_kwh >= 0 AND location_kg_per_kwh <= 5),
    residual_mix_kg_per_kwh  float8 CHECK (residual_mix_kg_per_kwh >= 0 AND residual_mix_kg_per_kwh <= 5),
    source                   text NOT NULL CHECK (length(source) BETWEEN 1 AND 500),
    PRIMARY KEY (site_id, year)
);
COMMENT ON TABLE emission_factors IS 'Grid emission factors per site and year: the grid average (location-based Scope 2) and the residual mix (market-based Scope 2 for energy no contract covers), with where they come from.';

CREATE TABLE supply_contracts (
    id            bigserial PRIMARY KEY,
    site_id       text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    supplier      text NOT NULL CHECK (length(supplier) BETWEEN 1 AND 200),
    instrument    text NOT NULL CHECK (instrument IN ('supplier_specific', 'energy_attribute_certificate', 'ppa')),
    kg_per_kwh    float8 NOT NULL CHECK (kg_per_kwh >= 0 AND kg_per_kwh <= 5),
    covers_share  float8 NOT NULL DEFAULT 1 CHECK (covers_share > 0 AND covers_share <= 1),
    valid_from    date NOT NULL,
    valid_to      date CHECK (valid_to > valid_from),
    EXCLUDE USING gist (site_id WITH =, daterange(valid_from, valid_to) WITH &&)
);
COMMENT ON TABLE supply_contracts IS 'Contractual instruments for market-based Scope 2: a supplier-specific factor, certificates or a PPA covering covers_share of the site''s consumption on the days of its validity.';

CREATE TABLE energy_targets (
    id            bigserial PRIMARY KEY,
    site_id       text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    device_id     text REFERENCES devices (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    metric        text NOT NULL CHECK (metric IN ('kwh', 'cost', 'kgco2e')),
    period_start  date NOT NULL,
    period_end    date NOT NULL CHECK (period_end > period_start AND period_end <= period_start + 3660),
    value         float8 NOT NULL CHECK (value > 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE energy_targets IS 'A ceiling on a site''s (or one meter''s) energy, cost or emissions (location-based) over [period_start, period_end) in local dates.';
CREATE INDEX energy_targets_site_idx ON energy_targets (site_id);

CREATE TABLE meter_zones (
    device_id  text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    camera_id  text NOT NULL,
    zone_id    text NOT NULL,
    PRIMARY KEY (device_id, camera_id, zone_id),
    FOREIGN KEY (camera_id, zone_id) REFERENCES zones (camera_id, id) ON DELETE CASCADE
);
COMMENT ON TABLE meter_zones IS 'The camera zones a meter supplies (lighting and small power of an office floor, say): an hour in which every one of them was watched and empty is an hour of empty-building energy for that meter.';

-- Occupancy per camera and zone per quarter hour, maintained by ingest
-- with the samples (only newly stored samples count): what occupant-hours
-- and empty-building energy read, so a KPI over months reads rollups, not
-- every sample, and outlives the samples' 90 days.
CREATE TABLE occupancy_quarters (
    camera_id    text NOT NULL,
    bucket       timestamptz NOT NULL,
    samples      int NOT NULL,
    in_view_sum  bigint NOT NULL,
    in_view_max  int NOT NULL,
    PRIMARY KEY (camera_id, bucket)
);
COMMENT ON TABLE occupancy_quarters IS 'People in view per camera per quarter hour, from the occupancy samples: mean = in_view_sum / samples. A quarter without a row had no samples (the camera was not watching).';
CREATE TABLE zone_quarters (
    camera_id  text NOT NULL,
    zone_id    text NOT NULL,
    bucket     timestamptz NOT NULL,
    samples    int NOT NULL,
    count_max  bigint NOT NULL,
    PRIMARY KEY (camera_id, zone_id, bucket)
);
COMMENT ON TABLE zone_quarters IS 'The most people counted in each zone per quarter hour (from the samples that listed the zone).';
INSERT INTO occupancy_quarters (camera_id, bucket, samples, in_view_sum, in_view_max)
SELECT camera_id, time_bucket(INTERVAL '15 minutes', ts), count(*), sum(in_view), max(in_view)
FROM occupancy_samples GROUP BY 1, 2;
INSERT INTO zone_quarters (camera_id, zone_id, bucket, samples, count_max)
SELECT o.camera_id, e.value->>'zone', time_bucket(INTERVAL '15 minutes', o.ts), count(*), max((e.value->>'count')::bigint)
FROM occupancy_samples o CROSS JOIN LATERAL jsonb_array_elements(o.zones) AS e
WHERE jsonb_typeof(o.zones) = 'array'
GROUP BY 1, 2, 3;
