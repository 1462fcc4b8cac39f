-- Subscriptions, entitlements, prepared transactions and vouchers (the media access API).
CREATE TABLE subscriptions (
    id              TEXT PRIMARY KEY,
    customer        TEXT NOT NULL,
    product         TEXT NOT NULL,
    provider        TEXT NOT NULL,
    provider_ref    TEXT,
    state           TEXT NOT NULL,
    premium         INTEGER NOT NULL DEFAULT 0,
    duration_months INTEGER NOT NULL,
    anchor_at       INTEGER,
    periods         INTEGER NOT NULL DEFAULT 0,
    valid_until     INTEGER,
    will_renew      INTEGER NOT NULL DEFAULT 1,
    can_renew       INTEGER NOT NULL DEFAULT 1,
    paid_monthly    INTEGER NOT NULL DEFAULT 1,
    capture_on      INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    canceled_at     INTEGER,
    reason          TEXT,
    version         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX subscriptions_customer ON subscriptions (customer);
CREATE UNIQUE INDEX subscriptions_provider_ref ON subscriptions (provider, provider_ref);
CREATE INDEX subscriptions_due ON subscriptions (state, valid_until);

-- Append-only: one row per state change or recorded fact; dedupe_key makes provider
-- events apply exactly once.
CREATE TABLE subscription_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    event           TEXT NOT NULL,
    from_state      TEXT,
    to_state        TEXT NOT NULL,
    valid_until     INTEGER,
    at              INTEGER NOT NULL,
    source          TEXT NOT NULL,
    dedupe_key      TEXT UNIQUE,
    details         TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX subscription_events_subscription ON subscription_events (subscription_id, seq);

-- Append-only: every payment of a subscription (first period, renewals, upgrades).
CREATE TABLE subscription_payments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    kind            TEXT NOT NULL,
    provider        TEXT NOT NULL,
    reference       TEXT NOT NULL,
    amount_minor    INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    period_end      INTEGER,
    receipt_number  TEXT,
    at              INTEGER NOT NULL,
    UNIQUE (provider, reference)
);
CREATE INDEX subscription_payments_subscription ON subscription_payments (subscription_id);

CREATE TABLE commerce_transactions (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    customer           TEXT NOT NULL,
    operation          TEXT NOT NULL,
    product            TEXT,
    item               TEXT,
    streamtype         TEXT,
    provider           TEXT NOT NULL,
    reference          TEXT,
    payment_type       TEXT,
    affiliate          TEXT,
    amount_minor       INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    final_minor        INTEGER,
    state              TEXT NOT NULL,
    subscription_id    TEXT,
    options            TEXT NOT NULL DEFAULT '{}',
    finish_hash        TEXT,
    external_user_id   TEXT,
    external_reference TEXT,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    finished_at        INTEGER,
    receipt_number     TEXT
);
CREATE INDEX commerce_transactions_customer ON commerce_transactions (customer);
CREATE INDEX commerce_transactions_open ON commerce_transactions (state, expires_at);
CREATE UNIQUE INDEX commerce_transactions_reference
    ON commerce_transactions (provider, reference);

-- What a customer owns or rents (ownage: ends_at NULL = forever; ppv: ends_at set).
CREATE TABLE entitlements (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    customer   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    product    TEXT NOT NULL,
    source     TEXT NOT NULL UNIQUE,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX entitlements_customer ON entitlements (customer);

-- payment.itemstate performTransactionIfPossible=1: the "buy" registered once.
CREATE TABLE item_buys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    customer   TEXT NOT NULL,
    item       TEXT NOT NULL,
    streamtype TEXT NOT NULL,
    via        TEXT NOT NULL,
    at         INTEGER NOT NULL,
    UNIQUE (customer, item, streamtype, via)
);

CREATE TABLE vouchers (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    code_hash             TEXT UNIQUE,
    reference_hash        TEXT UNIQUE,
    grants                TEXT NOT NULL,
    valid_from            INTEGER,
    valid_until           INTEGER,
    max_uses              INTEGER,
    max_uses_per_customer INTEGER,
    uses                  INTEGER NOT NULL DEFAULT 0,
    disabled              INTEGER NOT NULL DEFAULT 0,
    created_at            INTEGER NOT NULL
);

-- Append-only: one row per successful redemption.
CREATE TABLE voucher_redemptions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    voucher_id INTEGER NOT NULL REFERENCES vouchers (id),
    customer   TEXT NOT NULL,
    granted    TEXT NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX voucher_redemptions_customer ON voucher_redemptions (voucher_id, customer);

-- A discount on the customer's next purchase of a product; used_by names that transaction.
CREATE TABLE discounts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    customer   TEXT NOT NULL,
    product    TEXT NOT NULL,
    percent    TEXT,
    amount     TEXT,
    source     TEXT NOT NULL UNIQUE,
    used_by    INTEGER,
    at         INTEGER NOT NULL
);
CREATE INDEX discounts_customer ON discounts (customer, product)
;

-- How far the subscription bridge has read the payment event log.
CREATE TABLE subscription_cursor (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
)
