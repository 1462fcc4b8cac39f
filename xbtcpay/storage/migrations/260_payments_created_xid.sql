-- The id of the transaction that inserted a payment (PostgreSQL only; NULL on SQLite and in
-- rows copied from another database). Replicas reserve derivation indexes in blocks, so
-- payments commit out of index order; the chain watcher loads new deposit addresses by
-- this commit-order watermark instead (xbtcpay/storage/chain_store.py).
ALTER TABLE payments ADD COLUMN created_xid INTEGER;
CREATE INDEX payments_created_xid ON payments (created_xid) WHERE created_xid IS NOT NULL
