-- The prompt template the drafting model is sent, as admins edit it: one row per version,
-- never changed; the newest is the one in use. Version 1 is the template built into Rekey
-- (src/notices/templates/prompt_*.txt) and has no row. Model-written notice versions name the
-- version that prompted them.
CREATE TABLE prompt_templates (
    version BIGINT PRIMARY KEY CHECK (version >= 2),
    system_text TEXT NOT NULL,
    user_text TEXT NOT NULL,
    -- SHA-256 of the two texts, as the audit entry of the save records it.
    sha256 TEXT NOT NULL,
    saved_by_name TEXT NOT NULL,
    saved_at BIGINT NOT NULL
);
