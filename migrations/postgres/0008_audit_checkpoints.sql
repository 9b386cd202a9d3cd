-- Signed checkpoints of the audit chain: each signs the head (sequence and hash) at a moment,
-- and links to the checkpoint before by that one's signature. Append-only like the trail.

CREATE TABLE audit_checkpoints (
    number BIGINT PRIMARY KEY,
    entry_seq BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    signed_at BIGINT NOT NULL,
    previous_signature TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL
);

CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_checkpoints is append-only';
END;
$$;

CREATE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_append_only();
