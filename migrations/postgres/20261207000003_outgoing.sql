-- Outgoing integrations (#20): outgoing webhooks and slash commands, and the durable outbox every
-- call to them goes through.
-- JSON arrays are stored as text, the same on both backends.

-- An outgoing webhook: posts in its channel (or, with trigger words, in any public channel of its
-- team) are sent to its callback URLs. `token` is sent in each body, as Mattermost does, and keys
-- the HMAC signature header.
CREATE TABLE outgoing_webhooks (
    id            UUID PRIMARY KEY,
    team_id       UUID NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    channel_id    UUID REFERENCES channels(id) ON DELETE CASCADE,
    creator_id    UUID NOT NULL REFERENCES users(id),
    display_name  TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    trigger_words TEXT  NOT NULL,
    -- 0: the first word equals a trigger word; 1: the message starts with one (Mattermost's values).
    trigger_when  SMALLINT NOT NULL DEFAULT 0,
    callback_urls TEXT  NOT NULL,
    content_type  TEXT NOT NULL DEFAULT 'application/json',
    token         TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX idx_outgoing_webhooks_team ON outgoing_webhooks(team_id) WHERE revoked_at IS NULL;

-- A post that may trigger outgoing webhooks, written in the post's own transaction (so a node dying
-- right after the commit loses nothing); the outbox worker turns it into deliveries and deletes it.
CREATE TABLE outgoing_triggers (
    post_id    UUID PRIMARY KEY,
    channel_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- The outbox: one row per outgoing call, retried until delivered or given up (`dead`). A worker
-- holds a row while `lease_until` is in the future; a node killed mid-call leaves the lease to expire
-- and another node takes the row. `idempotency_key` is sent as `Idempotency-Key`, the same on every try.
CREATE TABLE webhook_deliveries (
    id               UUID PRIMARY KEY,
    hook_id          UUID REFERENCES outgoing_webhooks(id) ON DELETE SET NULL,
    url              TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    body             TEXT NOT NULL,
    signature        TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    reply_channel_id UUID,
    reply_user_id    UUID,
    state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    lease_owner      TEXT,
    lease_until      TIMESTAMPTZ,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ
);
CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE state = 'pending';
CREATE INDEX idx_webhook_deliveries_hook ON webhook_deliveries(hook_id, created_at);
CREATE INDEX idx_webhook_deliveries_finished ON webhook_deliveries(finished_at) WHERE state <> 'pending';

-- A slash command of a team: `/trigger args` is sent to `url` instead of being posted.
CREATE TABLE slash_commands (
    id                UUID PRIMARY KEY,
    team_id           UUID NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    creator_id        UUID NOT NULL REFERENCES users(id),
    trigger           TEXT NOT NULL,
    url               TEXT NOT NULL,
    method            TEXT NOT NULL CHECK (method IN ('POST', 'GET')),
    token             TEXT NOT NULL,
    display_name      TEXT NOT NULL DEFAULT '',
    description       TEXT NOT NULL DEFAULT '',
    auto_complete     BOOLEAN NOT NULL DEFAULT FALSE,
    auto_complete_hint TEXT NOT NULL DEFAULT '',
    created_at        TIMESTAMPTZ NOT NULL,
    revoked_at        TIMESTAMPTZ
);
CREATE UNIQUE INDEX idx_slash_commands_trigger ON slash_commands(team_id, trigger) WHERE revoked_at IS NULL;
