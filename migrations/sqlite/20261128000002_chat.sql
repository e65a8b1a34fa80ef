-- The chat domain (see the PostgreSQL migration of the same name for the meaning of each table).
-- UUIDs are 16-byte blobs; timestamps fixed-width RFC 3339 text, so text order is time order.

CREATE TABLE users (
    id              BLOB PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    email           TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL DEFAULT '',
    password_hash   TEXT,
    is_system_admin INTEGER NOT NULL DEFAULT 0,
    is_active       INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE sessions (
    id                 BLOB PRIMARY KEY,
    user_id            BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    refresh_hash       TEXT NOT NULL,
    prev_refresh_hash  TEXT,
    created_at         TEXT NOT NULL,
    refreshed_at       TEXT NOT NULL,
    expires_at         TEXT NOT NULL,
    revoked_at         TEXT,
    user_agent         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_sessions_user ON sessions(user_id);

CREATE TABLE teams (
    id           BLOB PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    open         INTEGER NOT NULL DEFAULT 0,
    created_by   BLOB NOT NULL REFERENCES users(id),
    created_at   TEXT NOT NULL
);

CREATE TABLE team_members (
    team_id   BLOB NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id   BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role      TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    joined_at TEXT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX idx_team_members_user ON team_members(user_id);

CREATE TABLE invites (
    id         BLOB PRIMARY KEY,
    code_hash  TEXT NOT NULL UNIQUE,
    team_id    BLOB REFERENCES teams(id) ON DELETE CASCADE,
    created_by BLOB NOT NULL REFERENCES users(id),
    max_uses   INTEGER NOT NULL,
    uses       INTEGER NOT NULL DEFAULT 0,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE channels (
    id              BLOB PRIMARY KEY,
    team_id         BLOB REFERENCES teams(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('public', 'private', 'direct', 'group')),
    name            TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    purpose         TEXT NOT NULL DEFAULT '',
    header          TEXT NOT NULL DEFAULT '',
    member_key      TEXT UNIQUE,
    created_by      BLOB NOT NULL REFERENCES users(id),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    archived_at     TEXT,
    last_seq        INTEGER NOT NULL DEFAULT 0,
    total_msg_count INTEGER NOT NULL DEFAULT 0,
    last_post_at    TEXT
);
CREATE UNIQUE INDEX idx_channels_team_name ON channels(team_id, name) WHERE team_id IS NOT NULL;

CREATE TABLE channel_members (
    channel_id       BLOB NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    user_id          BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role             TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    joined_at        TEXT NOT NULL,
    last_viewed_seq  INTEGER NOT NULL DEFAULT 0,
    viewed_msg_count INTEGER NOT NULL DEFAULT 0,
    mention_count    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX idx_channel_members_user ON channel_members(user_id);

CREATE TABLE posts (
    id            BLOB PRIMARY KEY,
    channel_id    BLOB NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    user_id       BLOB NOT NULL REFERENCES users(id),
    root_id       BLOB REFERENCES posts(id),
    message       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    edited_at     TEXT,
    deleted_at    TEXT,
    reply_count   INTEGER NOT NULL DEFAULT 0,
    last_reply_at TEXT,
    is_pinned     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX idx_posts_channel_created ON posts(channel_id, created_at DESC);
CREATE INDEX idx_posts_root ON posts(root_id, created_at) WHERE root_id IS NOT NULL;

-- Full-text search: an external-content FTS5 table kept in step by triggers.
CREATE VIRTUAL TABLE posts_fts USING fts5(message, content='posts', content_rowid='rowid', tokenize='unicode61');
CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
    INSERT INTO posts_fts(rowid, message) VALUES (new.rowid, new.message);
END;
CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
    INSERT INTO posts_fts(posts_fts, rowid, message) VALUES ('delete', old.rowid, old.message);
END;
CREATE TRIGGER posts_fts_update AFTER UPDATE OF message ON posts BEGIN
    INSERT INTO posts_fts(posts_fts, rowid, message) VALUES ('delete', old.rowid, old.message);
    INSERT INTO posts_fts(rowid, message) VALUES (new.rowid, new.message);
END;

CREATE TABLE reactions (
    post_id    BLOB NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    user_id    BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    emoji_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (post_id, user_id, emoji_name)
);

CREATE TABLE channel_events (
    channel_id BLOB NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (channel_id, seq)
);
CREATE INDEX idx_channel_events_created ON channel_events(created_at);

UPDATE server_config
SET site = json_patch('{"registration": "open", "site_name": "RustChat"}', site)
WHERE id = 'default';
