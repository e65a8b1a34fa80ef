-- Which storage each node writes attachments to, with the marker object it wrote there at start. A node
-- that cannot read another node's marker does not share its storage (local directories on several
-- nodes): it warns, since a file uploaded through one node would be missing on the other.
CREATE TABLE file_store (
    node_id    TEXT PRIMARY KEY,
    location   TEXT NOT NULL,
    marker     TEXT NOT NULL,
    checked_at TEXT NOT NULL
);
