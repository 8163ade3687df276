-- The whole schema as of SQLite's 0004 (there were no Postgres hubs before
-- it; later changes add 0002 …). Milliseconds and counters are BIGINT, yes/no
-- columns BOOLEAN, file content BYTEA. JSON stays TEXT: objects keep their
-- key order, as the command path requires (JSONB would sort them).
--
-- Names compare without case as SQLite's NOCASE does, ASCII only:
-- `lower(name COLLATE "C")` folds A-Z and nothing else, whatever the
-- database's locale. Queries that must match these indexes use the same
-- expression.

-- Accounts own machines; users belong to accounts and sign in with their own
-- tokens. 'default' is the account of the zero-config hub (inserted at open).
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX accounts_name ON accounts (lower(name COLLATE "C"));

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    removed_ms BIGINT
);
CREATE UNIQUE INDEX users_name ON users (account_id, lower(name COLLATE "C")) WHERE removed_ms IS NULL;

-- Only hashes of secrets. A user token names its user; a machine token its
-- machine, after its first use or from pairing.
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    user_id TEXT REFERENCES users(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    machine_id TEXT,
    created_ms BIGINT NOT NULL,
    last_used_ms BIGINT,
    revoked_ms BIGINT
);
-- One live token per machine: a second one can only come from an explicit
-- re-pair, which revokes the first.
CREATE UNIQUE INDEX tokens_machine ON tokens (machine_id) WHERE machine_id IS NOT NULL AND revoked_ms IS NULL;
CREATE INDEX tokens_by_user ON tokens (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX tokens_revoked ON tokens (revoked_ms) WHERE revoked_ms IS NOT NULL;

-- A machine belongs to the token (or pairing) that first registered it, and
-- its name is unique in its account, so no other token can speak for it or
-- catch what is addressed to it.
CREATE TABLE machines (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    token_id TEXT,
    name TEXT NOT NULL,
    os TEXT NOT NULL,
    arch TEXT NOT NULL,
    version TEXT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    online BOOLEAN NOT NULL DEFAULT FALSE,
    last_seq BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX machines_name ON machines (account_id, lower(name COLLATE "C"));

CREATE TABLE projects (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    layout TEXT NOT NULL,
    read_only BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (machine_id, id)
);

CREATE TABLE files (
    machine_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    path TEXT NOT NULL,
    hash TEXT NOT NULL,
    size BIGINT NOT NULL,
    mtime_ms BIGINT NOT NULL,
    content BYTEA NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (machine_id, project_id, path)
);

-- The durable command queue and outcomes (one road, at most once).
CREATE TABLE commands (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    args TEXT NOT NULL,
    summary TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    deferred BOOLEAN NOT NULL DEFAULT FALSE,
    sent_ms BIGINT,
    finished_ms BIGINT,
    result TEXT,
    error TEXT
);
CREATE INDEX commands_by_machine ON commands (machine_id, state, seq);
CREATE INDEX commands_by_account ON commands (account_id, state, seq);

-- The one row `/healthz` rewrites to learn whether the database takes writes.
CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY,
    at_ms BIGINT NOT NULL
);
