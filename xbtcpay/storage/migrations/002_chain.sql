-- Chain watcher state: the scan cursor, headers of recent (unfinalized) blocks, deposits
-- found on chain, and payments whose state must be recomputed from their deposits.
-- Cursor, headers, deposits and dirty marks change together in one transaction.
CREATE TABLE chain_cursor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    block      INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE chain_blocks (
    number      INTEGER PRIMARY KEY,
    hash        TEXT NOT NULL,
    parent_hash TEXT NOT NULL
);

-- One row per credit to a deposit address. key is unique per (block hash, log index),
-- (block hash, tx hash) or (block hash, payment) for a reconciled balance surplus, so a
-- re-scanned block never counts twice and a re-mined transaction counts again.
-- units: integer base units as decimal text (uint256 does not fit SQLite integers).
CREATE TABLE deposits (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT NOT NULL UNIQUE,
    payment_id   TEXT NOT NULL REFERENCES payments (id),
    asset        TEXT NOT NULL,
    address      TEXT NOT NULL,
    units        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    tx_hash      TEXT,
    block_number INTEGER NOT NULL,
    block_hash   TEXT NOT NULL,
    position     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX deposits_payment ON deposits (payment_id, block_number, position);
CREATE INDEX deposits_block ON deposits (block_number);

CREATE TABLE chain_dirty (
    payment_id TEXT PRIMARY KEY
)
