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

CREATE FUNCTION audit_prunes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_prunes is append-only';
END;
$$;

CREATE TRIGGER audit_prunes_no_change BEFORE UPDATE OR DELETE ON audit_prunes
    FOR EACH ROW EXECUTE FUNCTION audit_prunes_append_only();

-- Deleting stays refused, except at or below a recorded prune point.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.seq <= (SELECT COALESCE(MAX(through_seq), 0) FROM audit_prunes) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
