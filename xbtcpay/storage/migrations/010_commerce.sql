-- Commerce: the balance ledger (append-only), cached balances, receipts with gapless numbers
-- per company, purchases keyed by the app's purchase token. Plain SQL both engines run.
-- Every table's first column is its primary key (``xbtcpay db copy`` pages by it).
CREATE TABLE ledger_entries (
    id              TEXT PRIMARY KEY,
    customer        TEXT NOT NULL,
    currency        TEXT NOT NULL,
    amount          BIGINT NOT NULL,
    balance_after   BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    payment_id      TEXT,
    receipt_number  TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    reason          TEXT,
    seq             BIGINT NOT NULL,
    at              BIGINT NOT NULL
);
CREATE UNIQUE INDEX ledger_entries_account_seq ON ledger_entries (customer, currency, seq);
CREATE INDEX ledger_entries_payment ON ledger_entries (payment_id);

CREATE TABLE balances (
    account   TEXT PRIMARY KEY,
    customer  TEXT NOT NULL,
    currency  TEXT NOT NULL,
    amount    BIGINT NOT NULL,
    entries   BIGINT NOT NULL,
    UNIQUE (customer, currency)
);

CREATE TABLE receipt_sequences (
    company TEXT PRIMARY KEY,
    last    BIGINT NOT NULL
);

CREATE TABLE issued_receipts (
    number          TEXT PRIMARY KEY,
    company         TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    original_number TEXT,
    customer        TEXT,
    payment_id      TEXT,
    purchase_token  TEXT,
    currency        TEXT NOT NULL,
    total           BIGINT NOT NULL,
    tax             BIGINT NOT NULL,
    less_tax        BIGINT NOT NULL,
    tax_rate        TEXT NOT NULL,
    tax_country     TEXT,
    lines           TEXT NOT NULL,
    method          TEXT NOT NULL,
    card_brand      TEXT,
    card_last4      TEXT,
    view_token      TEXT NOT NULL UNIQUE,
    issued_at       BIGINT NOT NULL,
    paid_at         BIGINT
);
CREATE UNIQUE INDEX issued_receipts_company_seq ON issued_receipts (company, seq);
CREATE UNIQUE INDEX issued_receipts_one_per_payment ON issued_receipts (payment_id) WHERE kind = 'receipt';
CREATE INDEX issued_receipts_customer ON issued_receipts (customer, issued_at);

CREATE TABLE purchases (
    id              TEXT PRIMARY KEY,
    customer        TEXT NOT NULL,
    purchase_token  TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    status          TEXT NOT NULL,
    answer          TEXT,
    payment_id      TEXT,
    receipt_number  TEXT,
    created_at      BIGINT NOT NULL,
    UNIQUE (customer, purchase_token)
)
