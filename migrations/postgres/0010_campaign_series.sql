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
-- (campaign, consumer, kind) to (campaign, consumer, kind, days before the deadline).
ALTER TABLE notices ADD COLUMN days_before BIGINT NOT NULL DEFAULT 0;
ALTER TABLE notices ADD COLUMN due_at BIGINT;
ALTER TABLE notices DROP CONSTRAINT notices_campaign_id_consumer_id_kind_key;
ALTER TABLE notices ADD CONSTRAINT notices_series_step UNIQUE (campaign_id, consumer_id, kind, days_before);
CREATE INDEX notices_consumer ON notices (consumer_id, campaign_id);

-- When approvers were reminded that the notice is due soon and still unapproved (once each).
ALTER TABLE notices ADD COLUMN approval_reminded_at BIGINT;
