-- Accounts own machines; users belong to accounts and sign in with their own
-- tokens. The first release's single account ('default') stays the account
-- of the zero-config hub.
CREATE UNIQUE INDEX IF NOT EXISTS accounts_name ON accounts (name COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    removed_ms INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS users_name ON users (account_id, name COLLATE NOCASE) WHERE removed_ms IS NULL;
-- A user token names its user; tokens made before users existed have none.
ALTER TABLE tokens ADD COLUMN user_id TEXT REFERENCES users(id);
CREATE INDEX IF NOT EXISTS tokens_by_user ON tokens (user_id) WHERE user_id IS NOT NULL;
