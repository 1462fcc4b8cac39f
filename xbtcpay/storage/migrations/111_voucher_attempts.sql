-- Voucher attempts per limiter key (customer:<id>, ip:<address>), shared by every replica:
-- times holds the JSON list of the attempts still inside commerce.voucher_failure_window.
-- A row is locked while an attempt is taken, so concurrent attempts on any replica queue.
CREATE TABLE voucher_attempts (
    key     TEXT PRIMARY KEY,
    times   TEXT NOT NULL,
    last_at INTEGER NOT NULL
);
CREATE INDEX voucher_attempts_last_at ON voucher_attempts (last_at)
