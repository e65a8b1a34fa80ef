-- User preferences as the Mattermost API v4 stores them: free-form (category, name) -> value per user.
CREATE TABLE preferences (
    user_id  UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    category TEXT NOT NULL,
    name     TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (user_id, category, name)
);
