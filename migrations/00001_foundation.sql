-- The foundation: accounts and API keys, the double-entry ledger, holds and idempotency keys.
-- Times are unix microseconds (BIGINT); amounts are BIGINT counts of an asset's minor unit.

-- +goose Up
CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'org')),
    handle     TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- Members of an organisation. Owners act for it: its keys, its balance, its bounties.
CREATE TABLE account_members (
    org_id     TEXT NOT NULL REFERENCES accounts (id),
    member_id  TEXT NOT NULL REFERENCES accounts (id),
    role       TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, member_id)
);
CREATE INDEX account_members_member ON account_members (member_id);

-- API keys are stored as a SHA-256 of the secret; the secret is shown once.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    name         TEXT NOT NULL,
    hint         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,
    created_by   TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_keys_account ON api_keys (account_id);

-- One-off facts about this installation, such as whether the first admin key was issued.
CREATE TABLE system_settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE ledger_accounts (
    address        TEXT PRIMARY KEY,
    owner_id       TEXT REFERENCES accounts (id),
    allow_negative BOOLEAN NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_id);

-- A cache of the sum of entries per account and asset, updated in the same database
-- transaction as the entries. The CHECK is the last line of defence against an overdraft.
CREATE TABLE ledger_balances (
    address        TEXT NOT NULL REFERENCES ledger_accounts (address),
    asset          TEXT NOT NULL,
    balance        BIGINT NOT NULL,
    allow_negative BOOLEAN NOT NULL,
    PRIMARY KEY (address, asset),
    CHECK (allow_negative OR balance >= 0)
);

CREATE TABLE ledger_transactions (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    input_hash      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    memo            TEXT NOT NULL,
    metadata        TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    reverses        TEXT UNIQUE REFERENCES ledger_transactions (id),
    created_at      BIGINT NOT NULL
);

-- Entries are never updated or deleted; a correction is a reversing transaction.
CREATE TABLE ledger_entries (
    transaction_id TEXT NOT NULL REFERENCES ledger_transactions (id),
    seq            INTEGER NOT NULL,
    address        TEXT NOT NULL REFERENCES ledger_accounts (address),
    asset          TEXT NOT NULL,
    amount         BIGINT NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (transaction_id, seq)
);
CREATE INDEX ledger_entries_address ON ledger_entries (address, transaction_id);

CREATE TABLE ledger_holds (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    input_hash      TEXT NOT NULL,
    address         TEXT NOT NULL REFERENCES ledger_accounts (address),
    hold_address    TEXT NOT NULL UNIQUE REFERENCES ledger_accounts (address),
    asset           TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    status          TEXT NOT NULL CHECK (status IN ('active', 'released', 'captured')),
    created_at      BIGINT NOT NULL,
    resolved_at     BIGINT
);
CREATE INDEX ledger_holds_active ON ledger_holds (address, asset) WHERE status = 'active';

-- Idempotency-Key of the HTTP API: one row per caller and key, with a hash of the request and,
-- once the first request finished, its response.
CREATE TABLE idempotency_keys (
    principal_id     TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'done')),
    locked_until     BIGINT NOT NULL,
    response_status  INTEGER,
    response_type    TEXT,
    response_body    TEXT,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (principal_id, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE ledger_holds;
DROP TABLE ledger_entries;
DROP TABLE ledger_transactions;
DROP TABLE ledger_balances;
DROP TABLE ledger_accounts;
DROP TABLE system_settings;
DROP TABLE api_keys;
DROP TABLE account_members;
DROP TABLE accounts;
