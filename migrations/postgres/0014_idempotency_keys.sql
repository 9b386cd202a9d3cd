-- A script's Idempotency-Key on a POST that creates something, and the answer it got: a retry
-- with the same key and request gets the same answer instead of a second campaign or draft.
-- Kept 24 hours. `status` is empty while the first request is still running.
CREATE TABLE idempotency_keys (
    caller TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    status INTEGER,
    response TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (caller, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
