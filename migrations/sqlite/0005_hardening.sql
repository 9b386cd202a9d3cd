-- Hardening after the security review: throttling moves to memory (no write per failed
-- attempt), login TOTP seeds are sealed in the vault's system partition, recovery codes, a
-- first password an admin chose must be replaced, agent tokens wait before reading the vault,
-- admins' grants to themselves wait for a second admin, vault values get keyed fingerprints,
-- and approvers can acknowledge a flagged string as not secret.

DROP TABLE login_throttle;

ALTER TABLE users ADD COLUMN totp_enrolled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0;
-- The plain seeds still in totp_secret are sealed and cleared at start-up (vault::system).
UPDATE users SET totp_enrolled = 1 WHERE totp_secret IS NOT NULL;

CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    UNIQUE (user_id, code_hash)
);

ALTER TABLE api_tokens ADD COLUMN issued_by BIGINT REFERENCES users (id);
-- Tokens issued before this release read at once, as they did.
ALTER TABLE api_tokens ADD COLUMN reads_from BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN confirmed_by BIGINT REFERENCES users (id);

CREATE TABLE vault_grant_requests (
    id INTEGER PRIMARY KEY,
    partition_id BIGINT NOT NULL REFERENCES vault_partitions (id),
    grantee_id BIGINT NOT NULL REFERENCES users (id),
    access TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    decided_by BIGINT REFERENCES users (id),
    decided_at BIGINT,
    approved BIGINT
);
CREATE INDEX vault_grant_requests_open ON vault_grant_requests (decided_at);

ALTER TABLE vault_versions ADD COLUMN fingerprinted BIGINT NOT NULL DEFAULT 0;

CREATE TABLE vault_fingerprints (
    secret_id BIGINT NOT NULL,
    version BIGINT NOT NULL,
    form TEXT NOT NULL,
    window_len BIGINT NOT NULL,
    window_fp TEXT NOT NULL,
    full_len BIGINT NOT NULL,
    full_fp TEXT NOT NULL,
    FOREIGN KEY (secret_id, version) REFERENCES vault_versions (secret_id, version)
);
CREATE INDEX vault_fingerprints_version ON vault_fingerprints (secret_id, version);

CREATE TABLE secret_acknowledgements (
    notice_id BIGINT NOT NULL REFERENCES notices (id),
    fingerprint TEXT NOT NULL,
    reason TEXT NOT NULL,
    acknowledged_by BIGINT NOT NULL REFERENCES users (id),
    acknowledged_at BIGINT NOT NULL,
    PRIMARY KEY (notice_id, fingerprint)
);

-- The HTML part is rendered from the approved markdown when the message is sent, so the
-- approval's hash covers it: no stored copy that could differ.
ALTER TABLE outbox DROP COLUMN html_body;
