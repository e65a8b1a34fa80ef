-- File attachments (#18). The database is the source of truth: a row exists from the moment an upload
-- starts ('uploading'); it becomes 'ready' once its bytes are stored, a post takes it (post_id), and a
-- deleted post or a sweep marks it deleted_at before its objects are removed and the row with them.
CREATE TABLE files (
    id            UUID PRIMARY KEY,
    channel_id    UUID NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    uploader_id   UUID NOT NULL REFERENCES users(id),
    post_id       UUID REFERENCES posts(id),
    state         TEXT NOT NULL DEFAULT 'uploading',
    name          TEXT NOT NULL,
    size          BIGINT NOT NULL DEFAULT 0,
    mime_type     TEXT NOT NULL DEFAULT 'application/octet-stream',
    width         INTEGER,
    height        INTEGER,
    has_thumbnail BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    deleted_at    TIMESTAMPTZ
);
CREATE INDEX idx_files_post ON files(post_id) WHERE post_id IS NOT NULL;
CREATE INDEX idx_files_unattached ON files(created_at) WHERE post_id IS NULL;
CREATE INDEX idx_files_deleted ON files(deleted_at) WHERE deleted_at IS NOT NULL;
