-- Payments, their append-only event log, the postback outbox and its attempts.
CREATE TABLE payments (
    id               TEXT PRIMARY KEY,
    method           TEXT NOT NULL,
    asset            TEXT NOT NULL,
    amount           TEXT NOT NULL,
    amount_received  TEXT NOT NULL DEFAULT '0',
    address          TEXT UNIQUE,
    derivation_index INTEGER UNIQUE,
    status           TEXT NOT NULL,
    data             TEXT NOT NULL DEFAULT 'null',
    postback_url     TEXT,
    postback_events  TEXT,
    order_id         TEXT UNIQUE,
    request_hash     TEXT,
    product          TEXT,
    customer         TEXT,
    provider_ref     TEXT,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER,
    seen_at          INTEGER,
    paid_at          INTEGER,
    tx_hash          TEXT,
    tx_block         INTEGER,
    late             INTEGER NOT NULL DEFAULT 0,
    overpaid         INTEGER NOT NULL DEFAULT 0,
    reorged          INTEGER NOT NULL DEFAULT 0,
    amount_refunded  TEXT NOT NULL DEFAULT '0',
    reason           TEXT,
    extra            TEXT NOT NULL DEFAULT '{}',
    version          INTEGER NOT NULL DEFAULT 0,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX payments_status ON payments (status, expires_at);
CREATE INDEX payments_created ON payments (created_at);
CREATE UNIQUE INDEX payments_provider_ref ON payments (method, provider_ref);
CREATE INDEX payments_customer ON payments (customer);

CREATE TABLE payment_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL UNIQUE,
    payment_id  TEXT NOT NULL REFERENCES payments (id),
    event       TEXT NOT NULL,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    at          INTEGER NOT NULL,
    source      TEXT NOT NULL,
    dedupe_key  TEXT UNIQUE,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX payment_events_payment ON payment_events (payment_id, seq);

CREATE TABLE claims (
    key        TEXT PRIMARY KEY,
    claimed_at INTEGER NOT NULL
);

CREATE TABLE postbacks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL UNIQUE,
    payment_id      TEXT NOT NULL REFERENCES payments (id),
    event           TEXT NOT NULL,
    url             TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    created_at      REAL NOT NULL,
    delivered_at    REAL,
    last_status     INTEGER,
    last_error      TEXT
);
CREATE INDEX postbacks_due ON postbacks (status, next_attempt_at);
CREATE INDEX postbacks_payment ON postbacks (payment_id);

CREATE TABLE postback_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    postback_id  INTEGER NOT NULL REFERENCES postbacks (id),
    at           REAL NOT NULL,
    duration_ms  INTEGER NOT NULL,
    http_status  INTEGER,
    error        TEXT
);
CREATE INDEX postback_attempts_postback ON postback_attempts (postback_id);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
)
