-- The campaign engine: a campaign drafts a series of notices per consumer (announcement,
-- reminders and escalations at chosen days before the deadline, a final notice, a revocation
-- notice, a confirmation), each due at its own time; a consumer's send window says when its
-- people read mail. Campaigns planned before this send their announcement only (empty series).

ALTER TABLE campaigns ADD COLUMN reminder_days TEXT NOT NULL DEFAULT '';
ALTER TABLE campaigns ADD COLUMN escalation_days TEXT NOT NULL DEFAULT '';
ALTER TABLE campaigns ADD COLUMN closing_notices BIGINT NOT NULL DEFAULT 0;
-- When it was cancelled or completed: the next audit checkpoint is signed at its end.
ALTER TABLE campaigns ADD COLUMN ended_at BIGINT;
ALTER TABLE consumers ADD COLUMN send_window TEXT NOT NULL DEFAULT 'Mon-Fri 09:00-17:00';

-- A consumer now has several reminders in one campaign: the uniqueness moves from
-- (campaign, consumer, kind) to (campaign, consumer, kind, days before the deadline). SQLite
-- cannot drop a table constraint, so the table is rebuilt (the migration runs with foreign
-- keys off and checks them before it commits).
CREATE TABLE notices_series (
    id INTEGER PRIMARY KEY,
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    consumer_id BIGINT NOT NULL REFERENCES consumers (id),
    kind TEXT NOT NULL,
    days_before BIGINT NOT NULL DEFAULT 0,
    due_at BIGINT,
    state TEXT NOT NULL,
    pattern TEXT NOT NULL,
    recipient TEXT NOT NULL,
    current_version BIGINT NOT NULL,
    checks_passed BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    outbox_id BIGINT,
    UNIQUE (campaign_id, consumer_id, kind, days_before)
);
INSERT INTO notices_series (id, campaign_id, consumer_id, kind, state, pattern, recipient,
    current_version, checks_passed, last_error, created_at, updated_at, outbox_id)
SELECT id, campaign_id, consumer_id, kind, state, pattern, recipient, current_version,
    checks_passed, last_error, created_at, updated_at, outbox_id FROM notices;
DROP TABLE notices;
ALTER TABLE notices_series RENAME TO notices;
CREATE INDEX notices_state ON notices (state, id);
CREATE INDEX notices_campaign ON notices (campaign_id, state);
CREATE UNIQUE INDEX notices_outbox ON notices (outbox_id);
CREATE INDEX notices_consumer ON notices (consumer_id, campaign_id);

-- When approvers were reminded that the notice is due soon and still unapproved (once each).
ALTER TABLE notices ADD COLUMN approval_reminded_at BIGINT;
