-- Sessions remember which JWT secret they were opened under, so replacing the secret (without
-- RUSTCHAT_JWT_SECRET_PREVIOUS) ends them: refresh tokens stop working too. '' marks older sessions.
ALTER TABLE sessions ADD COLUMN secret_id TEXT NOT NULL DEFAULT '';
