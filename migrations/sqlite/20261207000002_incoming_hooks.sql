-- Incoming webhooks (#20). A hook is known by its public id (logs, lists, revocation); whoever holds its
-- secret may post through it, so only the secret's SHA-256 is stored. Revoking deletes the row.
CREATE TABLE incoming_hooks (
    id             BLOB PRIMARY KEY,
    secret_hash    TEXT NOT NULL UNIQUE,
    channel_id     BLOB NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    creator_id     BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    display_name   TEXT NOT NULL,
    description    TEXT NOT NULL,
    channel_locked INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    last_used_at   TEXT
);
CREATE INDEX idx_incoming_hooks_creator ON incoming_hooks(creator_id);
CREATE INDEX idx_incoming_hooks_channel ON incoming_hooks(channel_id);

-- What a post carries besides its text, in Mattermost's shape (`from_webhook`, `override_username`,
-- `override_icon_url`, `attachments`), as JSON text; NULL for an ordinary post.
ALTER TABLE posts ADD COLUMN props TEXT;

-- A webhook's attachments are searchable like the text: the strings of `props.attachments`, in a
-- contentless FTS5 table kept by triggers (a deletion repeats the indexed text, read again from the row).
CREATE VIRTUAL TABLE posts_attachments_fts USING fts5(attachments, content='', tokenize='unicode61');
CREATE TRIGGER posts_attachments_fts_insert AFTER INSERT ON posts WHEN new.props IS NOT NULL BEGIN
    INSERT INTO posts_attachments_fts(rowid, attachments)
    VALUES (new.rowid, (SELECT group_concat(value, ' ') FROM json_tree(new.props, '$.attachments') WHERE type = 'text'));
END;
CREATE TRIGGER posts_attachments_fts_delete AFTER DELETE ON posts WHEN old.props IS NOT NULL BEGIN
    INSERT INTO posts_attachments_fts(posts_attachments_fts, rowid, attachments)
    VALUES ('delete', old.rowid, (SELECT group_concat(value, ' ') FROM json_tree(old.props, '$.attachments') WHERE type = 'text'));
END;
CREATE TRIGGER posts_attachments_fts_update AFTER UPDATE OF props ON posts WHEN old.props IS NOT NULL BEGIN
    INSERT INTO posts_attachments_fts(posts_attachments_fts, rowid, attachments)
    VALUES ('delete', old.rowid, (SELECT group_concat(value, ' ') FROM json_tree(old.props, '$.attachments') WHERE type = 'text'));
    INSERT INTO posts_attachments_fts(rowid, attachments)
    SELECT new.rowid, (SELECT group_concat(value, ' ') FROM json_tree(new.props, '$.attachments') WHERE type = 'text')
    WHERE new.props IS NOT NULL;
END;
CREATE TRIGGER posts_attachments_fts_props_set AFTER UPDATE OF props ON posts WHEN old.props IS NULL AND new.props IS NOT NULL BEGIN
    INSERT INTO posts_attachments_fts(rowid, attachments)
    VALUES (new.rowid, (SELECT group_concat(value, ' ') FROM json_tree(new.props, '$.attachments') WHERE type = 'text'));
END;
