-- Several chains watched at once: every chain has its own scan cursor (with the fencing
-- term it was written under) and its own window of recent block hashes, keyed by the
-- chain's name in the configuration. What one watcher stored before belongs to the chain a
-- single `chain:` section configures, named 'main'. Deposits name their chain, so a
-- rollback on one chain leaves every other chain's deposits alone. A stray deposit (another
-- asset, or another chain, sent to a payment's address) is kept for a refund, never counted.
CREATE TABLE chain_cursor_by_chain (
    chain      TEXT PRIMARY KEY,
    block      INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    term       INTEGER NOT NULL DEFAULT 0
);
INSERT INTO chain_cursor_by_chain (chain, block, updated_at, term)
    SELECT 'main', block, updated_at, term FROM chain_cursor;
DROP TABLE chain_cursor;
ALTER TABLE chain_cursor_by_chain RENAME TO chain_cursor;

CREATE TABLE chain_blocks_by_chain (
    chain       TEXT NOT NULL,
    number      INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    parent_hash TEXT NOT NULL,
    PRIMARY KEY (chain, number)
);
INSERT INTO chain_blocks_by_chain (chain, number, hash, parent_hash)
    SELECT 'main', number, hash, parent_hash FROM chain_blocks;
DROP TABLE chain_blocks;
ALTER TABLE chain_blocks_by_chain RENAME TO chain_blocks;

ALTER TABLE deposits ADD COLUMN chain TEXT NOT NULL DEFAULT 'main';
DROP INDEX deposits_block;
CREATE INDEX deposits_chain_block ON deposits (chain, block_number);

-- Stray deposits: the columns of deposits, never counted towards the payment.
CREATE TABLE stray_deposits (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT NOT NULL UNIQUE,
    chain        TEXT NOT NULL,
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
CREATE INDEX stray_deposits_payment ON stray_deposits (payment_id);
CREATE INDEX stray_deposits_chain_block ON stray_deposits (chain, block_number);

ALTER TABLE chain_dirty ADD COLUMN chain TEXT NOT NULL DEFAULT 'main'
