-- Team messages: a notice about a rotation to Rekey's own people (a user, or the team address
-- in settings) rather than to a consumer, as an agent's `notify_team` writes it. It has no
-- consumer and no integration pattern, so both columns become optional. SQLite cannot relax a
-- NOT NULL column, so the table is rebuilt (the migration runs with foreign keys off and
-- checks them before it commits).
CREATE TABLE notices_audience (
    id INTEGER PRIMARY KEY,
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    -- None for a team message.
    consumer_id BIGINT REFERENCES consumers (id),
    kind TEXT NOT NULL,
    days_before BIGINT NOT NULL DEFAULT 0,
    due_at BIGINT,
    state TEXT NOT NULL,
    -- None for a team message.
    pattern TEXT,
    recipient TEXT NOT NULL,
    current_version BIGINT NOT NULL,
    checks_passed BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    outbox_id BIGINT,
    approval_reminded_at BIGINT,
    fallbacks TEXT NOT NULL DEFAULT '',
    fallbacks_used BIGINT NOT NULL DEFAULT 0,
    UNIQUE (campaign_id, consumer_id, kind, days_before),
    CHECK ((consumer_id IS NULL) = (kind = 'team_message')),
    CHECK ((pattern IS NULL) = (kind = 'team_message'))
);
INSERT INTO notices_audience (id, campaign_id, consumer_id, kind, days_before, due_at, state,
    pattern, recipient, current_version, checks_passed, last_error, created_at, updated_at,
    outbox_id, approval_reminded_at, fallbacks, fallbacks_used)
SELECT id, campaign_id, consumer_id, kind, days_before, due_at, state, pattern, recipient,
    current_version, checks_passed, last_error, created_at, updated_at, outbox_id,
    approval_reminded_at, fallbacks, fallbacks_used FROM notices;
DROP TABLE notices;
ALTER TABLE notices_audience RENAME TO notices;
CREATE INDEX notices_state ON notices (state, id);
CREATE INDEX notices_campaign ON notices (campaign_id, state);
CREATE UNIQUE INDEX notices_outbox ON notices (outbox_id);
CREATE INDEX notices_consumer ON notices (consumer_id, campaign_id);
