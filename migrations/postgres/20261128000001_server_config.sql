-- Site-wide settings. Operators edit `site` in SQL (see the runbook), nodes pick changes up by polling.
CREATE TABLE IF NOT EXISTS server_config (
    id         TEXT PRIMARY KEY,
    site       JSONB NOT NULL DEFAULT '{}'::jsonb,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

INSERT INTO server_config (id, site)
VALUES ('default', '{"max_simultaneous_connections": 10}'::jsonb)
ON CONFLICT (id) DO NOTHING;
