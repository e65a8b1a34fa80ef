-- Single sign-on: which external identity is which account, and short-lived single-use values
-- (OAuth state, one-time exchange codes) when there is no Redis (embedded mode).
CREATE TABLE user_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX idx_user_identities_user ON user_identities(user_id);

CREATE TABLE ephemeral_values (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
