-- Alerting: one row per alert (one bad spell of one rule's subject), the
-- silences and maintenance windows, the notification channels, and the
-- delivery log that doubles as the outbox. Design: docs/ref/alerts.md.

CREATE TABLE alerts (
    id            bigserial PRIMARY KEY,
    rule          text NOT NULL,
    site_id       text NOT NULL,
    subject_kind  text NOT NULL,
    subject_id    text NOT NULL,
    state         text NOT NULL CHECK (state IN ('firing', 'acknowledged', 'resolved')),
    severity      text NOT NULL CHECK (severity IN ('warning', 'critical', 'escalated')),
    first_seen    timestamptz NOT NULL,
    fired_at      timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    body          jsonb NOT NULL,
    UNIQUE (rule, site_id, subject_kind, subject_id, first_seen)
);
COMMENT ON TABLE alerts IS 'Alerts: body is the alerting core''s Alert (summary, details, who acknowledged or resolved it and when, streaks, history); the columns beside it repeat what lists filter on. At most one open (firing or acknowledged) alert per rule and subject.';
CREATE UNIQUE INDEX alerts_one_open_idx ON alerts (rule, site_id, subject_kind, subject_id) WHERE state <> 'resolved';
CREATE INDEX alerts_fired_idx ON alerts (fired_at DESC);
CREATE INDEX alerts_open_idx ON alerts (state) WHERE state <> 'resolved';

CREATE TABLE alert_silences (
    id            uuid PRIMARY KEY,
    rule          text,
    site_id       text,
    subject_kind  text,
    subject_id    text,
    starts        timestamptz NOT NULL,
    ends          timestamptz NOT NULL,
    created_by    text NOT NULL,
    comment       text CHECK (length(comment) <= 1000),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (ends > starts),
    CHECK ((subject_kind IS NULL) = (subject_id IS NULL)),
    CHECK (rule IS NOT NULL OR site_id IS NOT NULL OR subject_id IS NOT NULL)
);
COMMENT ON TABLE alert_silences IS 'Silences and maintenance windows: alerts matching every given field (rule, site, subject) are not notified between starts and ends; they still fire, escalate and resolve. A fire alarm is silenced only by a silence naming its exact zone.';
CREATE INDEX alert_silences_ends_idx ON alert_silences (ends);

CREATE TABLE alert_channels (
    name             text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    kind             text NOT NULL CHECK (kind IN ('webhook', 'email')),
    enabled          boolean NOT NULL DEFAULT true,
    route            jsonb NOT NULL,
    settings         jsonb NOT NULL,
    secret           text,
    failing          boolean NOT NULL DEFAULT false,
    last_error       text,
    last_error_at    timestamptz,
    last_success_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE alert_channels IS 'Where notifications go: route (severities, sites, rules; empty means all) picks the changes; settings hold the webhook URL or the e-mail recipients per severity; secret is the webhook''s HMAC-SHA256 key (never returned by the API). failing: the latest delivery attempt failed.';

CREATE TABLE alert_deliveries (
    id               bigserial PRIMARY KEY,
    alert_id         bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    channel          text NOT NULL,
    what             text NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_error       text,
    created_at       timestamptz NOT NULL,
    sent_at          timestamptz
);
COMMENT ON TABLE alert_deliveries IS 'One notification of one alert change to one channel: the outbox (pending rows are claimed with SKIP LOCKED by any instance, so each is sent once) and the delivery log (attempts, last error, when sent). A row whose sender died is claimed again once next_attempt_at, its lease, has passed.';
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX alert_deliveries_alert_idx ON alert_deliveries (alert_id, id);
CREATE INDEX alert_deliveries_created_idx ON alert_deliveries (created_at);

CREATE TABLE alert_cursors (
    name  text PRIMARY KEY,
    ts    timestamptz NOT NULL
);
COMMENT ON TABLE alert_cursors IS 'How far the evaluator has read each event source (door events, by reception time), so that an event is judged once even when another instance takes over evaluation.';

-- When central received each device event: the evaluator reads door
-- events after a cursor on it, so an event that arrives late (spooled
-- through an outage) is still judged. Rows before this migration get the
-- migration's time, and are not judged (they are history by then).
ALTER TABLE device_events ADD COLUMN received_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX device_events_received_idx ON device_events (received_at) WHERE type = 'access';

INSERT INTO retention (table_name, keep) VALUES
    ('alerts_resolved', INTERVAL '400 days'),
    ('alert_deliveries', INTERVAL '90 days'),
    ('alert_silences_ended', INTERVAL '90 days');
