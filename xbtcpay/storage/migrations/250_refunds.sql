-- Refunds of crypto payments (xbtcpay/refunds) and the payouts that send them.
-- A refund moves requested -> approved -> sent -> confirmed | failed, or is canceled before
-- it is sent. units are integer decimal text (uint256 does not fit SQLite integers).
-- claim_hash is the SHA-256 of the claim link's token, never the token; claimed_at is set
-- when the customer enters an address (an address can be entered once; the link then shows
-- the refund's progress). A wallet payout's signed transaction (raw_tx, tx_hash, sender,
-- nonce) is written before it is broadcast, so a restart re-sends the same bytes and never
-- a second transaction; block_number/block_hash are where it was last seen mined. An
-- external payout is looked for on the chain from block watch_from on (moved as blocks are
-- read). fee_wei is the gas a wallet payout cost the payout wallet (for the books).
CREATE TABLE refunds (
    id               TEXT PRIMARY KEY,
    payment_id       TEXT NOT NULL,
    chain            TEXT NOT NULL,
    asset            TEXT NOT NULL,
    units            TEXT NOT NULL,
    amount           TEXT NOT NULL,
    fiat_amount      TEXT,
    currency         TEXT,
    rate             TEXT,
    rate_kind        TEXT,
    stray            INTEGER NOT NULL DEFAULT 0,
    address          TEXT,
    reason           TEXT NOT NULL,
    status           TEXT NOT NULL,
    claim_hash       TEXT UNIQUE,
    claim_expires_at INTEGER,
    claimed_at       INTEGER,
    force_debit      INTEGER NOT NULL DEFAULT 0,
    approved_at      INTEGER,
    payout_method    TEXT,
    sender           TEXT,
    nonce            INTEGER,
    raw_tx           TEXT,
    tx_hash          TEXT,
    block_number     INTEGER,
    block_hash       TEXT,
    watch_from       INTEGER,
    confirmed_at     INTEGER,
    fee_wei          TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id, asset);
CREATE INDEX refunds_created ON refunds (created_at);
CREATE INDEX refunds_status ON refunds (status);
CREATE INDEX refunds_confirmed ON refunds (confirmed_at);
CREATE INDEX refunds_sender ON refunds (chain, sender, nonce);
CREATE UNIQUE INDEX refunds_tx ON refunds (chain, tx_hash);

CREATE TABLE refund_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    refund_id TEXT NOT NULL REFERENCES refunds (id),
    status    TEXT NOT NULL,
    detail    TEXT NOT NULL,
    at        INTEGER NOT NULL
);
CREATE INDEX refund_events_refund ON refund_events (refund_id, id)
