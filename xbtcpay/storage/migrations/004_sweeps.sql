-- Sweeps of deposit addresses to the treasury (xbtcpay/sweep). Append-only: a sweep's facts
-- never change; what happened to it since is a new row in sweep_events (sent, confirmed,
-- reorged, failed), and the units it moved are written with the event that confirmed it.
-- Units and wei are integer decimal text (uint256 does not fit SQLite integers).
CREATE TABLE sweeps (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tx_hash     TEXT NOT NULL UNIQUE,
    chain_id    INTEGER NOT NULL,
    asset       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    treasury    TEXT NOT NULL,
    sender      TEXT NOT NULL,
    nonce       INTEGER NOT NULL,
    gas_limit   INTEGER NOT NULL,
    raw_tx      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE sweep_items (
    sweep_id         INTEGER NOT NULL REFERENCES sweeps (id),
    address          TEXT NOT NULL,
    derivation_index INTEGER NOT NULL,
    planned_units    TEXT NOT NULL,
    payment_ids      TEXT NOT NULL,
    PRIMARY KEY (sweep_id, address)
);
CREATE INDEX sweep_items_address ON sweep_items (address);

CREATE TABLE sweep_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    sweep_id     INTEGER NOT NULL REFERENCES sweeps (id),
    status       TEXT NOT NULL,
    block_number INTEGER,
    block_hash   TEXT,
    gas_used     INTEGER,
    fee_wei      TEXT,
    detail       TEXT,
    at           INTEGER NOT NULL
);
CREATE INDEX sweep_events_sweep ON sweep_events (sweep_id, id);

CREATE TABLE sweep_amounts (
    event_id INTEGER NOT NULL REFERENCES sweep_events (id),
    address  TEXT NOT NULL,
    units    TEXT NOT NULL,
    PRIMARY KEY (event_id, address)
);

-- funds and sweep plans read only addresses that ever received a deposit
CREATE INDEX deposits_asset_address ON deposits (asset, address)
