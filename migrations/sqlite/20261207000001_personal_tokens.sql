-- Integrations' credentials (see the PostgreSQL migration of the same name).

ALTER TABLE users ADD COLUMN is_bot INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posts ADD COLUMN from_bot INTEGER NOT NULL DEFAULT 0;

CREATE TABLE bots (
    user_id     BLOB PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    owner_id    BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);
CREATE INDEX idx_bots_owner ON bots(owner_id);

CREATE TABLE access_tokens (
    id           BLOB PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    user_id      BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL,
    created_by   BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT
);
CREATE INDEX idx_access_tokens_user ON access_tokens(user_id);
