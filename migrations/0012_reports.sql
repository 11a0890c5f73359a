-- Reports: the archive of generated reports (definition, data and what
-- made them), the schedules that generate them, and the e-mail outbox
-- for scheduled reports. Design: docs/ref/reports.md.

CREATE TABLE report_schedules (
    id               uuid PRIMARY KEY,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind             text NOT NULL CHECK (kind IN ('daily', 'weekly', 'monthly')),
    site_id          text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    at_local         time NOT NULL,
    sections         text[] NOT NULL,
    formats          text[] NOT NULL,
    recipients       text[] NOT NULL,
    include_persons  boolean NOT NULL DEFAULT false,
    enabled          boolean NOT NULL DEFAULT true,
    next_from        date NOT NULL,
    created_by       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_run_at      timestamptz,
    last_error       text
);
COMMENT ON TABLE report_schedules IS 'Reports generated at a local time of day in the site''s zone after each day, week (Monday to Sunday) or month; next_from is the first day of the next period owed, advanced in the transaction that stores its report, so each period is generated once.';

CREATE TABLE reports (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('daily', 'weekly', 'monthly', 'custom')),
    site_id          text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    period_from      date NOT NULL,
    period_to        date NOT NULL CHECK (period_to >= period_from),
    sections         text[] NOT NULL,
    include_persons  boolean NOT NULL,
    persons          uuid[] NOT NULL DEFAULT '{}',
    schedule_id      uuid REFERENCES report_schedules (id) ON DELETE SET NULL,
    requested_by     text,
    generated_at     timestamptz NOT NULL,
    data             jsonb NOT NULL,
    data_hash        text NOT NULL,
    generator        text NOT NULL,
    UNIQUE (schedule_id, period_from)
);
COMMENT ON TABLE reports IS 'Generated reports: data is what every export renders (so an export never changes after generation), data_hash its SHA-256, generator the code that made it. include_persons: the data names people (persons: who), only holders of persons:read may read it, and erasing one of them deletes it.';
CREATE INDEX reports_site_idx ON reports (site_id, generated_at DESC);
CREATE INDEX reports_generated_idx ON reports (generated_at DESC);
CREATE INDEX reports_persons_idx ON reports USING gin (persons) WHERE include_persons;

CREATE TABLE report_mailings (
    id            bigserial PRIMARY KEY,
    report_id     uuid NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    recipients    text[] NOT NULL,
    formats       text[] NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    next_at       timestamptz NOT NULL DEFAULT now(),
    lease_until   timestamptz,
    delivered_at  timestamptz,
    failed_at     timestamptz,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE report_mailings IS 'E-mails of scheduled reports: an outbox written with the report, sent by whichever central instance claims the row.';
CREATE INDEX report_mailings_report_idx ON report_mailings (report_id);
CREATE INDEX report_mailings_due_idx ON report_mailings (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;

INSERT INTO retention (table_name, keep) VALUES ('reports', INTERVAL '400 days');
