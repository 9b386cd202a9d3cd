-- The senders rewrite an outbox row at every claim, give-back and outcome. With the message
-- text in the row (about 2 KB) each of those rewrote whole pages; the text never changes once
-- queued, so it moves to a table of its own and the rows the senders rewrite stay small.
CREATE TABLE outbox_bodies (
    outbox_id BIGINT PRIMARY KEY REFERENCES outbox (id),
    text_body TEXT NOT NULL
);
INSERT INTO outbox_bodies (outbox_id, text_body) SELECT id, text_body FROM outbox;
ALTER TABLE outbox DROP COLUMN text_body;

-- A claimed message's lease end is now also its next_attempt_at, so the senders find both due
-- messages and expired leases in one range of the (state, next_attempt_at) index, without
-- scanning every message in flight. Messages claimed before this release get the same.
UPDATE outbox SET next_attempt_at = claimed_until WHERE state = 'sending' AND claimed_until IS NOT NULL;
