-- An agent token carries scopes (what it may be used for, names separated by spaces) and an
-- expiry. Tokens issued before this release keep every scope agents had and never expire, as
-- they did; the Agents page says so.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'inventory:read inventory:write notices:draft vault';
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
