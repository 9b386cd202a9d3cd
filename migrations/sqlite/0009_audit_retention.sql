-- Retention: entries older than the retention period may be pruned once a verified archive of
-- them exists. Each prune records the entry it pruned through, that entry's hash (which a signed
-- checkpoint vouches for) and the archive's SHA-256; the chain verifies from there.

CREATE TABLE audit_prunes (
    through_seq BIGINT PRIMARY KEY,
    head_hash TEXT NOT NULL,
    checkpoint_number BIGINT NOT NULL,
    archive_sha256 TEXT NOT NULL,
    pruned_at BIGINT NOT NULL
);

CREATE TRIGGER audit_prunes_no_update BEFORE UPDATE ON audit_prunes
BEGIN
    SELECT RAISE(ABORT, 'audit_prunes is append-only');
END;

CREATE TRIGGER audit_prunes_no_delete BEFORE DELETE ON audit_prunes
BEGIN
    SELECT RAISE(ABORT, 'audit_prunes is append-only');
END;

-- Deleting stays refused, except at or below a recorded prune point.
DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN OLD.seq > (SELECT COALESCE(MAX(through_seq), 0) FROM audit_prunes)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
