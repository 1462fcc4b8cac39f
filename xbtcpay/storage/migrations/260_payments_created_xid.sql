-- The id of the transaction that inserted a payment (PostgreSQL only: its column default;
-- NULL on SQLite and in rows older than this migration). Replicas reserve derivation
-- indexes in blocks, so payments commit out of index order; the chain watcher loads new
-- deposit addresses by this commit-order watermark instead (xbtcpay/storage/chain_store.py).
ALTER TABLE payments ADD COLUMN created_xid INTEGER;
/*postgresql*/ ALTER TABLE payments ALTER COLUMN created_xid SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX payments_created_xid ON payments (created_xid, derivation_index)
    WHERE created_xid IS NOT NULL
