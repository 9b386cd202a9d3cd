-- The outbox knows messages, not notices: a notice points at the message its approval queued
-- (notices.outbox_id), so delivery and notices each write only their own table.

ALTER TABLE notices ADD COLUMN outbox_id BIGINT;
UPDATE notices SET outbox_id = (SELECT MAX(o.id) FROM outbox o WHERE o.notice_id = notices.id);
CREATE UNIQUE INDEX notices_outbox ON notices (outbox_id);

CREATE TABLE outbox_messages (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT,
    last_error TEXT,
    sent_at BIGINT,
    created_at BIGINT NOT NULL
);
INSERT INTO outbox_messages (id, sha256, message_id, sender, recipient, subject, text_body, state,
    attempts, next_attempt_at, claimed_until, last_error, sent_at, created_at)
SELECT id, sha256, message_id, sender, recipient, subject, text_body, state,
    attempts, next_attempt_at, claimed_until, last_error, sent_at, created_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_messages RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
