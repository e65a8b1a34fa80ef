-- The chat domain: accounts and sessions, teams, channels, posts, reactions, read state, and the
-- per-channel event log whose `seq` orders every change in a channel.

CREATE TABLE users (
    id              UUID PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    email           TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL DEFAULT '',
    password_hash   TEXT,
    is_system_admin BOOLEAN NOT NULL DEFAULT FALSE,
    is_active       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    id                 UUID PRIMARY KEY,
    user_id            UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    refresh_hash       TEXT NOT NULL,
    prev_refresh_hash  TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    refreshed_at       TIMESTAMPTZ NOT NULL,
    expires_at         TIMESTAMPTZ NOT NULL,
    revoked_at         TIMESTAMPTZ,
    user_agent         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_sessions_user ON sessions(user_id);

CREATE TABLE teams (
    id           UUID PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    open         BOOLEAN NOT NULL DEFAULT FALSE,
    created_by   UUID NOT NULL REFERENCES users(id),
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE team_members (
    team_id   UUID NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id   UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role      TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    joined_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX idx_team_members_user ON team_members(user_id);

CREATE TABLE invites (
    id         UUID PRIMARY KEY,
    code_hash  TEXT NOT NULL UNIQUE,
    team_id    UUID REFERENCES teams(id) ON DELETE CASCADE,
    created_by UUID NOT NULL REFERENCES users(id),
    max_uses   INTEGER NOT NULL,
    uses       INTEGER NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE channels (
    id              UUID PRIMARY KEY,
    team_id         UUID REFERENCES teams(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('public', 'private', 'direct', 'group')),
    name            TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    purpose         TEXT NOT NULL DEFAULT '',
    header          TEXT NOT NULL DEFAULT '',
    member_key      TEXT UNIQUE,
    created_by      UUID NOT NULL REFERENCES users(id),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    archived_at     TIMESTAMPTZ,
    last_seq        BIGINT NOT NULL DEFAULT 0,
    total_msg_count BIGINT NOT NULL DEFAULT 0,
    last_post_at    TIMESTAMPTZ
);
CREATE UNIQUE INDEX idx_channels_team_name ON channels(team_id, name) WHERE team_id IS NOT NULL;

CREATE TABLE channel_members (
    channel_id       UUID NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    user_id          UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role             TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    joined_at        TIMESTAMPTZ NOT NULL,
    last_viewed_seq  BIGINT NOT NULL DEFAULT 0,
    viewed_msg_count BIGINT NOT NULL DEFAULT 0,
    mention_count    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX idx_channel_members_user ON channel_members(user_id);

CREATE TABLE posts (
    id            UUID PRIMARY KEY,
    channel_id    UUID NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    user_id       UUID NOT NULL REFERENCES users(id),
    root_id       UUID REFERENCES posts(id),
    message       TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    edited_at     TIMESTAMPTZ,
    deleted_at    TIMESTAMPTZ,
    reply_count   BIGINT NOT NULL DEFAULT 0,
    last_reply_at TIMESTAMPTZ,
    is_pinned     BOOLEAN NOT NULL DEFAULT FALSE,
    search        TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', message)) STORED
);
-- The runbook names this index.
CREATE INDEX idx_posts_channel_created ON posts(channel_id, created_at DESC);
CREATE INDEX idx_posts_root ON posts(root_id, created_at) WHERE root_id IS NOT NULL;
CREATE INDEX idx_posts_search ON posts USING GIN (search);

CREATE TABLE reactions (
    post_id    UUID NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    emoji_name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (post_id, user_id, emoji_name)
);

-- Every change in a channel, in commit order: (channel_id, seq) is gap-free per channel because seq
-- comes from channels.last_seq, incremented under the channel row's lock in the same transaction.
CREATE TABLE channel_events (
    channel_id UUID NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    data       JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel_id, seq)
);
CREATE INDEX idx_channel_events_created ON channel_events(created_at);

UPDATE server_config
SET site = '{"registration": "open", "site_name": "RustChat"}'::jsonb || site
WHERE id = 'default';
