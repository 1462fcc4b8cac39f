-- The id of the transaction that appended a payment event (PostgreSQL only: its column
-- default; NULL on SQLite and in rows older than this migration). Replicas' writers can
-- commit a lower seq after a higher one, so the subscription bridge, which follows the event
-- log, reads it in the order of this commit-order watermark instead of by seq alone
-- (xbtcpay/storage/payment_events.py, events_after).
ALTER TABLE payment_events ADD COLUMN created_xid INTEGER;
/*postgresql*/ ALTER TABLE payment_events ALTER COLUMN created_xid SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX payment_events_created_xid ON payment_events (created_xid, seq)
    WHERE created_xid IS NOT NULL
