-- The tables of the first release (kept IF NOT EXISTS: hubs created before
-- migrations existed already have them).
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    machine_id TEXT,
    created_ms INTEGER NOT NULL,
    last_used_ms INTEGER,
    revoked_ms INTEGER
);
CREATE TABLE IF NOT EXISTS machines (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    os TEXT NOT NULL,
    arch TEXT NOT NULL,
    version TEXT NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    online INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS projects (
    machine_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    layout TEXT NOT NULL,
    read_only INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (machine_id, id)
);
CREATE TABLE IF NOT EXISTS files (
    machine_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    path TEXT NOT NULL,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ms INTEGER NOT NULL,
    content BLOB NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (machine_id, project_id, path)
);
