-- The vault: partitions, grants, secrets and their sealed versions, and master-key bookkeeping.

CREATE TABLE vault_keys (
    -- The master key's public fingerprint.
    key_id TEXT PRIMARY KEY,
    -- The current KEK generation and how many data keys it has wrapped.
    generation BIGINT NOT NULL,
    wraps BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE vault_partitions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    owner_kind TEXT,
    owner_id BIGINT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX vault_partitions_owner ON vault_partitions (owner_kind, owner_id);

CREATE TABLE vault_grants (
    partition_id BIGINT NOT NULL REFERENCES vault_partitions (id),
    grantee_kind TEXT NOT NULL,
    grantee_id BIGINT NOT NULL,
    access TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (partition_id, grantee_kind, grantee_id)
);

CREATE TABLE vault_secrets (
    id INTEGER PRIMARY KEY,
    partition_id BIGINT NOT NULL REFERENCES vault_partitions (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    credential_id BIGINT REFERENCES credentials (id),
    expires_at BIGINT,
    max_age_days BIGINT,
    totp TEXT,
    current_version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (partition_id, name)
);

CREATE TABLE vault_versions (
    secret_id BIGINT NOT NULL REFERENCES vault_secrets (id),
    version BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    generation BIGINT NOT NULL,
    wrapped_dek BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    masked TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    destroyed_at BIGINT,
    PRIMARY KEY (secret_id, version)
);
CREATE INDEX vault_versions_key ON vault_versions (key_id);
