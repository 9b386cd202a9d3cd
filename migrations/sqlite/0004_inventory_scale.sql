-- Inventory at scale: search, lifecycle from the key-issuing system's events, rotation policy.

-- Lowercased name, external id, tags and contacts, kept by every writer, so the free-text
-- search is one LIKE over one column instead of four joins.
ALTER TABLE consumers ADD COLUMN search TEXT NOT NULL DEFAULT '';
UPDATE consumers SET search = LOWER(name || ' ' || external_id || ' ' || tags || ' ' ||
    COALESCE((SELECT group_concat(k.name || ' ' || k.email, ' ') FROM contacts k WHERE k.consumer_id = consumers.id), ''));

-- A full-text index over that column (FTS5, built into the bundled SQLite): a search reads
-- the posting lists of its words instead of every consumer. Triggers keep it in step.
CREATE VIRTUAL TABLE consumer_search USING fts5(search, content='consumers', content_rowid='id');
INSERT INTO consumer_search (consumer_search) VALUES ('rebuild');
CREATE TRIGGER consumers_search_insert AFTER INSERT ON consumers BEGIN
    INSERT INTO consumer_search (rowid, search) VALUES (new.id, new.search);
END;
CREATE TRIGGER consumers_search_update AFTER UPDATE OF search ON consumers BEGIN
    INSERT INTO consumer_search (consumer_search, rowid, search) VALUES ('delete', old.id, old.search);
    INSERT INTO consumer_search (rowid, search) VALUES (new.id, new.search);
END;
CREATE TRIGGER consumers_search_delete AFTER DELETE ON consumers BEGIN
    INSERT INTO consumer_search (consumer_search, rowid, search) VALUES ('delete', old.id, old.search);
END;

-- The replacement issued by a key.rotated event.
ALTER TABLE credentials ADD COLUMN replaced_by BIGINT REFERENCES credentials (id);
-- When the event that last moved the status happened: an older event arriving late moves
-- nothing back.
ALTER TABLE credentials ADD COLUMN status_at BIGINT;
-- Since when the consumer has used the replacement and not this credential.
ALTER TABLE credentials ADD COLUMN migrated_at BIGINT;
CREATE INDEX credentials_status ON credentials (status, environment);
CREATE INDEX credentials_last_used ON credentials (last_used_at);
CREATE INDEX credentials_replaced_by ON credentials (replaced_by);

-- The maximum age of a credential, per environment; a credential's max_age_days overrides it.
CREATE TABLE rotation_policies (
    environment TEXT PRIMARY KEY,
    max_age_days BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Defaults a security lead can change: a quarter for production, longer elsewhere.
INSERT INTO rotation_policies (environment, max_age_days, updated_at) VALUES
    ('production', 90, 0), ('staging', 180, 0), ('development', 365, 0), ('sandbox', 365, 0);

-- Every event applied, by the sender's id: a second delivery is recognised and changes nothing.
CREATE TABLE key_events (
    event_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    credential_id BIGINT REFERENCES credentials (id),
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX key_events_credential ON key_events (credential_id, occurred_at);

-- A consumer's timeline reads the audit entries of the consumer, its credentials and notices.
CREATE INDEX audit_log_target ON audit_log (target, seq);
