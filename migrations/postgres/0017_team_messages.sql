-- Team messages: a notice about a rotation to Rekey's own people (a user, or the team address
-- in settings) rather than to a consumer, as an agent's `notify_team` writes it. It has no
-- consumer and no integration pattern, so both columns become optional, and only for it.
ALTER TABLE notices ALTER COLUMN consumer_id DROP NOT NULL;
ALTER TABLE notices ALTER COLUMN pattern DROP NOT NULL;
ALTER TABLE notices ADD CONSTRAINT notices_team_message_audience
    CHECK ((consumer_id IS NULL) = (kind = 'team_message') AND (pattern IS NULL) = (kind = 'team_message'));
