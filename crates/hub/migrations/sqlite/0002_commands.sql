-- The durable command queue and outcomes (one road, at most once).
CREATE TABLE IF NOT EXISTS commands (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    machine_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    args TEXT NOT NULL,
    summary TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    deferred INTEGER NOT NULL DEFAULT 0,
    sent_ms INTEGER,
    finished_ms INTEGER,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS commands_by_machine ON commands (machine_id, state, seq);
CREATE INDEX IF NOT EXISTS commands_by_account ON commands (account_id, state, seq);
