-- Encryption at rest: which keys have sealed this database's secrets (a check value proves a configured
-- key is the right one), and identity providers added through the admin API (secret sealed).
CREATE TABLE encryption_keys (
    kid         TEXT PRIMARY KEY,
    check_value TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE oidc_providers (
    id                   TEXT PRIMARY KEY,
    issuer               TEXT NOT NULL,
    client_id            TEXT NOT NULL,
    client_secret_sealed TEXT NOT NULL,
    scopes               TEXT NOT NULL,
    display_name         TEXT NOT NULL,
    created_at           TEXT NOT NULL
);
