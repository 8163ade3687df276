-- A machine belongs to the token (or pairing) that first registered it, and
-- its name is unique in its account, so no other token can speak for it or
-- catch what is addressed to it.
ALTER TABLE machines ADD COLUMN token_id TEXT;
UPDATE machines SET token_id = (
    SELECT t.id FROM tokens t WHERE t.machine_id = machines.id AND t.revoked_ms IS NULL ORDER BY t.created_ms LIMIT 1
);
-- Hubs from before this rule may hold two machines with one name: the older keeps it.
UPDATE machines SET name = name || ' (' || substr(id, 1, 8) || ')'
WHERE rowid NOT IN (SELECT MIN(rowid) FROM machines GROUP BY account_id, lower(name));
CREATE UNIQUE INDEX IF NOT EXISTS machines_name ON machines (account_id, name COLLATE NOCASE);
-- One live token per machine: a second one can only come from an explicit re-pair,
-- which revokes the first.
UPDATE tokens SET machine_id = NULL
WHERE machine_id IS NOT NULL AND revoked_ms IS NULL AND id NOT IN (
    SELECT MIN(id) FROM tokens WHERE machine_id IS NOT NULL AND revoked_ms IS NULL GROUP BY machine_id
);
CREATE UNIQUE INDEX IF NOT EXISTS tokens_machine ON tokens (machine_id) WHERE machine_id IS NOT NULL AND revoked_ms IS NULL;
