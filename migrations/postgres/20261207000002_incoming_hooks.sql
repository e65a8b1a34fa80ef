-- Incoming webhooks (#20). A hook is known by its public id (logs, lists, revocation); whoever holds its
-- secret may post through it, so only the secret's SHA-256 is stored. Revoking deletes the row.
CREATE TABLE incoming_hooks (
    id             UUID PRIMARY KEY,
    secret_hash    TEXT NOT NULL UNIQUE,
    channel_id     UUID NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    creator_id     UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    display_name   TEXT NOT NULL,
    description    TEXT NOT NULL,
    channel_locked BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMPTZ NOT NULL,
    last_used_at   TIMESTAMPTZ
);
CREATE INDEX idx_incoming_hooks_creator ON incoming_hooks(creator_id);
CREATE INDEX idx_incoming_hooks_channel ON incoming_hooks(channel_id);

-- What a post carries besides its text, in Mattermost's shape (`from_webhook`, `override_username`,
-- `override_icon_url`, `attachments`); NULL for an ordinary post.
ALTER TABLE posts ADD COLUMN props JSONB;

-- A webhook's attachments are searchable like the text: their strings, indexed on the posts that carry
-- props only (no rewrite of the posts table; `store::search` asks this expression beside `search`).
CREATE INDEX idx_posts_attachments_search ON posts
    USING GIN (jsonb_to_tsvector('simple'::regconfig, props -> 'attachments', '["string"]'))
    WHERE props IS NOT NULL;
