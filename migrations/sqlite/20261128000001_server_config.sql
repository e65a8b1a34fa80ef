-- Site-wide settings; `site` is a JSON document stored as text.
CREATE TABLE IF NOT EXISTS server_config (
    id         TEXT PRIMARY KEY,
    site       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(site)),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

INSERT INTO server_config (id, site)
VALUES ('default', '{"max_simultaneous_connections": 10}')
ON CONFLICT (id) DO NOTHING;
