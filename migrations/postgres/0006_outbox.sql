-- The outbox knows messages, not notices: a notice points at the message its approval queued
-- (notices.outbox_id), so delivery and notices each write only their own table.

ALTER TABLE notices ADD COLUMN outbox_id BIGINT REFERENCES outbox (id);
UPDATE notices n SET outbox_id = (SELECT MAX(o.id) FROM outbox o WHERE o.notice_id = n.id);
CREATE UNIQUE INDEX notices_outbox ON notices (outbox_id);

DROP INDEX outbox_notice;
ALTER TABLE outbox DROP COLUMN notice_id, DROP COLUMN version;
