-- The language-model drafter. A campaign names its drafter: the built-in templates (the
-- default) or the configured model, which rewrites each consumer's announcement (its migration
-- guide) after the built-in draft is stored.
ALTER TABLE campaigns ADD COLUMN drafter TEXT NOT NULL DEFAULT 'built_in'
    CHECK (drafter IN ('built_in', 'model'));

-- Why a version exists, in words, when its author alone does not say: what a model's draft
-- failed, or that the built-in draft was put back.
ALTER TABLE notice_versions ADD COLUMN note TEXT NOT NULL DEFAULT '';

-- What the model's drafting came to, one row per notice it was asked to draft: written once,
-- when the notice is done (drafted by the model, fallen back to the built-in draft, or
-- cancelled). A notice without a row is still to be drafted, which is how drafting resumes
-- after a restart. Texts are in the notice's versions; this holds the figures.
CREATE TABLE model_drafts (
    notice_id BIGINT PRIMARY KEY REFERENCES notices (id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    outcome TEXT NOT NULL CHECK (outcome IN ('model', 'built_in', 'skipped', 'cancelled')),
    model TEXT NOT NULL,
    prompt_version BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    -- What failed, one problem per line; empty when the model's draft passed.
    failures TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    -- Wall-clock milliseconds since the epoch around the model's work, for the rates the
    -- campaign page shows (notices per minute, tokens per second); not domain time.
    started_ms BIGINT NOT NULL,
    finished_ms BIGINT NOT NULL
);
CREATE INDEX model_drafts_campaign ON model_drafts (campaign_id);
