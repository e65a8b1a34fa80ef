-- Outgoing integrations (#20): see the PostgreSQL migration of the same name for the meaning of
-- each table. UUIDs are 16-byte blobs, timestamps RFC 3339 text, JSON arrays text.

-- An outgoing webhook: posts in its channel (or, with trigger words, in any public channel of its
-- team) are sent to its callback URLs. `token` is sent in each body, as Mattermost does, and keys
-- the HMAC signature header.
CREATE TABLE outgoing_webhooks (
    id            BLOB PRIMARY KEY,
    team_id       BLOB NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    channel_id    BLOB REFERENCES channels(id) ON DELETE CASCADE,
    creator_id    BLOB NOT NULL REFERENCES users(id),
    display_name  TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    trigger_words TEXT NOT NULL,
    -- 0: the first word equals a trigger word; 1: the message starts with one (Mattermost's values).
    trigger_when  INTEGER NOT NULL DEFAULT 0,
    callback_urls TEXT NOT NULL,
    content_type  TEXT NOT NULL DEFAULT 'application/json',
    token         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT
);
CREATE INDEX idx_outgoing_webhooks_team ON outgoing_webhooks(team_id) WHERE revoked_at IS NULL;

-- A post that may trigger outgoing webhooks, written in the post's own transaction (so a node dying
-- right after the commit loses nothing); the outbox worker turns it into deliveries and deletes it.
CREATE TABLE outgoing_triggers (
    post_id    BLOB PRIMARY KEY,
    channel_id BLOB NOT NULL,
    created_at TEXT NOT NULL
);

-- The outbox: one row per outgoing call, retried until delivered or given up (`dead`). A worker
-- holds a row while `lease_until` is in the future; a node killed mid-call leaves the lease to expire
-- and another node takes the row. `idempotency_key` is sent as `Idempotency-Key`, the same on every try.
CREATE TABLE webhook_deliveries (
    id               BLOB PRIMARY KEY,
    hook_id          BLOB REFERENCES outgoing_webhooks(id) ON DELETE SET NULL,
    url              TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    body             TEXT NOT NULL,
    signature        TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    reply_channel_id BLOB,
    reply_user_id    BLOB,
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    lease_owner      TEXT,
    lease_until      TEXT,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    finished_at      TEXT
);
CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE state = 'pending';
CREATE INDEX idx_webhook_deliveries_hook ON webhook_deliveries(hook_id, created_at);
CREATE INDEX idx_webhook_deliveries_finished ON webhook_deliveries(finished_at) WHERE state <> 'pending';

-- A slash command of a team: `/trigger args` is sent to `url` instead of being posted.
CREATE TABLE slash_commands (
    id                BLOB PRIMARY KEY,
    team_id           BLOB NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    creator_id        BLOB NOT NULL REFERENCES users(id),
    trigger           TEXT NOT NULL,
    url               TEXT NOT NULL,
    method            TEXT NOT NULL CHECK (method IN ('POST', 'GET')),
    token             TEXT NOT NULL,
    display_name      TEXT NOT NULL DEFAULT '',
    description       TEXT NOT NULL DEFAULT '',
    auto_complete     INTEGER NOT NULL DEFAULT 0,
    auto_complete_hint TEXT NOT NULL DEFAULT '',
    created_at        TEXT NOT NULL,
    revoked_at        TEXT
);
CREATE UNIQUE INDEX idx_slash_commands_trigger ON slash_commands(team_id, trigger) WHERE revoked_at IS NULL;
