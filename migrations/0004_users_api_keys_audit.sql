-- 0004: the API's front door: users get a display name, integrations get
-- API keys (only a hash of the secret is stored), and the audit log
-- records where a request came from and covers every write.

ALTER TABLE users
    ADD COLUMN display_name text NOT NULL DEFAULT '' CHECK (length(display_name) <= 200);
COMMENT ON COLUMN users.display_name IS 'Name shown in the UI; empty means the user name.';

CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    prefix        text NOT NULL UNIQUE CHECK (prefix ~ '^[a-z0-9]{8}$'),
    secret_hash   bytea NOT NULL CHECK (length(secret_hash) = 32),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    permissions   text[] NOT NULL,
    site_id       text REFERENCES sites (id) ON DELETE CASCADE,
    expires_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
COMMENT ON TABLE api_keys IS 'Keys for integrations, presented as atr_<prefix>_<secret>. The prefix finds the row; only the SHA-256 of the secret (32 random base62 characters) is kept. A key holds at most its owner''s permissions at the time of use.';
COMMENT ON COLUMN api_keys.site_id IS 'When set, the key reaches only this site''s data and only on routes that filter by site.';
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

ALTER TABLE audit_log
    ADD COLUMN address inet,
    ADD COLUMN api_key_id uuid;
COMMENT ON TABLE audit_log IS 'Who did what, when and from where: every write request through the API (action http.<method>, subject the path, detail the status), every read of personal data (persons, photos, recognitions) and every erasure; subject is the person id for personal data, kept after erasure so the erasure itself is on record.';
COMMENT ON COLUMN audit_log.address IS 'Client address of the request (none for the admin CLI).';
COMMENT ON COLUMN audit_log.api_key_id IS 'The API key the request used, if any (the user is its owner).';
CREATE INDEX audit_log_user_ts_idx ON audit_log (user_id, ts DESC);
