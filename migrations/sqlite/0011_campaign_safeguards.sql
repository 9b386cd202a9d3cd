-- The campaign engine's safeguards: one send window for a whole campaign, consumers marked
-- migrated by hand, and the contacts a notice falls back to when a server refuses it for good.

-- When set, every notice of the campaign waits for this window (in each consumer's own time
-- zone) instead of its consumer's.
ALTER TABLE campaigns ADD COLUMN send_window TEXT;

-- An engineer's word that a consumer has migrated, with the reason: it stops reminders and
-- counts in the burn-down (shown as "marked by hand"), but never makes revocation safe, which
-- needs the key-issuing system's evidence or an approved override.
CREATE TABLE hand_migrations (
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    consumer_id BIGINT NOT NULL REFERENCES consumers (id),
    marked_at BIGINT NOT NULL,
    marked_by BIGINT NOT NULL REFERENCES users (id),
    reason TEXT NOT NULL,
    PRIMARY KEY (campaign_id, consumer_id)
);

-- The contacts, in order, a notice goes to when its recipient's server refuses it for good
-- (5xx), shown and approved with the notice ("primary ann@example.com,escalation ..."), and
-- how many of them it has gone to so far.
ALTER TABLE notices ADD COLUMN fallbacks TEXT NOT NULL DEFAULT '';
ALTER TABLE notices ADD COLUMN fallbacks_used BIGINT NOT NULL DEFAULT 0;

-- A second person's approval to revoke a credential its consumers have not all moved off,
-- once the grace period is over (or when no campaign covers it), with the reason.
CREATE TABLE revocation_overrides (
    id INTEGER PRIMARY KEY,
    credential_id BIGINT NOT NULL REFERENCES credentials (id),
    reason TEXT NOT NULL,
    requested_by BIGINT NOT NULL REFERENCES users (id),
    requested_at BIGINT NOT NULL,
    approved_by BIGINT REFERENCES users (id),
    approved_at BIGINT,
    UNIQUE (credential_id)
);

-- Webhooks to the key-issuing system (credential.revocation_safe), posted with retries; the
-- body is signed as incoming events are. State as in the outbox.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    credential_id BIGINT NOT NULL REFERENCES credentials (id),
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX webhooks_due ON webhooks (state, next_attempt_at);

-- A later deadline for one consumer of a campaign (before the grace period ends): its unsent
-- notices are redrafted for it and go back to review.
CREATE TABLE deadline_extensions (
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    consumer_id BIGINT NOT NULL REFERENCES consumers (id),
    deadline_at BIGINT NOT NULL,
    granted_by BIGINT NOT NULL REFERENCES users (id),
    granted_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (campaign_id, consumer_id)
);
