-- Inventory (consumers, contacts, credentials), campaigns, notices with versions, approvals,
-- the delivery outbox and the local mailbox.

CREATE TABLE consumers (
    id INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    pattern TEXT NOT NULL,
    sdk_language TEXT,
    time_zone TEXT NOT NULL,
    -- Tags as ",a,b," so one tag matches with LIKE '%,a,%'.
    tags TEXT NOT NULL DEFAULT ',',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX consumers_name ON consumers (name);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    consumer_id BIGINT NOT NULL REFERENCES consumers (id),
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL
);
CREATE INDEX contacts_consumer ON contacts (consumer_id);
CREATE INDEX contacts_email ON contacts (email);

CREATE TABLE credentials (
    id INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    consumer_id BIGINT NOT NULL REFERENCES consumers (id),
    label TEXT NOT NULL,
    environment TEXT NOT NULL,
    prefix TEXT NOT NULL,
    status TEXT NOT NULL,
    -- Services that depend on the credential, as ",a,b,".
    services TEXT NOT NULL DEFAULT ',',
    max_age_days BIGINT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX credentials_consumer ON credentials (consumer_id);
CREATE INDEX credentials_environment ON credentials (environment, created_at);

CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    selector TEXT NOT NULL,
    announce_at BIGINT NOT NULL,
    new_key_at BIGINT NOT NULL,
    deadline_at BIGINT NOT NULL,
    grace_end_at BIGINT NOT NULL,
    consumers BIGINT NOT NULL,
    drafted BIGINT NOT NULL DEFAULT 0,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL
);

CREATE TABLE campaign_credentials (
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    credential_id BIGINT NOT NULL REFERENCES credentials (id),
    PRIMARY KEY (campaign_id, credential_id)
);

CREATE TABLE notices (
    id INTEGER PRIMARY KEY,
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    consumer_id BIGINT NOT NULL REFERENCES consumers (id),
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    pattern TEXT NOT NULL,
    recipient TEXT NOT NULL,
    current_version BIGINT NOT NULL,
    checks_passed BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (campaign_id, consumer_id, kind)
);
CREATE INDEX notices_state ON notices (state, id);
CREATE INDEX notices_campaign ON notices (campaign_id, state);

CREATE TABLE notice_versions (
    notice_id BIGINT NOT NULL REFERENCES notices (id),
    version BIGINT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    author_kind TEXT NOT NULL,
    author_id BIGINT,
    author_name TEXT NOT NULL,
    checks TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (notice_id, version)
);

CREATE TABLE approvals (
    id INTEGER PRIMARY KEY,
    notice_id BIGINT NOT NULL REFERENCES notices (id),
    version BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT,
    decided_by BIGINT NOT NULL REFERENCES users (id),
    decided_at BIGINT NOT NULL
);
CREATE INDEX approvals_notice ON approvals (notice_id);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    notice_id BIGINT NOT NULL REFERENCES notices (id),
    version BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT,
    last_error TEXT,
    sent_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_notice ON outbox (notice_id);

CREATE TABLE mailbox (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    delivered_at BIGINT NOT NULL
);
CREATE INDEX mailbox_recipient ON mailbox (recipient);
