-- Several replicas on one database: the leader lease with its fencing term, a log of the
-- terms under which the scan cursor moved, postback claims, and an index for the status
-- change feed that keeps every replica's status.json cache fresh.
CREATE TABLE cluster_lease (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    term       INTEGER NOT NULL,
    expires_at REAL NOT NULL
);

CREATE TABLE chain_terms (
    term       INTEGER PRIMARY KEY,
    holder     TEXT NOT NULL,
    first_at   REAL NOT NULL,
    last_at    REAL NOT NULL,
    writes     INTEGER NOT NULL
);

ALTER TABLE chain_cursor ADD COLUMN term INTEGER NOT NULL DEFAULT 0;
ALTER TABLE postbacks ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE postbacks ADD COLUMN claimed_by TEXT;
ALTER TABLE postbacks ADD COLUMN claimed_until REAL;
CREATE INDEX payments_updated ON payments (updated_at)
