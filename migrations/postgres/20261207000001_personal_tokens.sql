-- Integrations' credentials. A personal access token opens a session of its own (so every check of a
-- session, and the sockets' end when it is revoked, covers it); `access_tokens` holds its name, the
-- SHA-256 of its secret and when it was last used. A bot is a user without a password, with an owner.

ALTER TABLE users ADD COLUMN is_bot BOOLEAN NOT NULL DEFAULT FALSE;
-- Set when a bot wrote the post, so every reader shows where it came from.
ALTER TABLE posts ADD COLUMN from_bot BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE bots (
    user_id     UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    owner_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    description TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_bots_owner ON bots(owner_id);

CREATE TABLE access_tokens (
    -- The session the token opens.
    id           UUID PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    user_id      UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL,
    created_by   UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX idx_access_tokens_user ON access_tokens(user_id);
