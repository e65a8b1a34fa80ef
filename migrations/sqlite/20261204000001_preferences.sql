-- User preferences (see the PostgreSQL migration of the same name).
CREATE TABLE preferences (
    user_id  BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    category TEXT NOT NULL,
    name     TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (user_id, category, name)
);
