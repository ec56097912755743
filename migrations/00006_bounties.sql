-- Bounties: funded tasks, their reviewers, the CI results reported for them, claims and
-- submissions; and the GitHub logins linked to accounts, which pending rewards wait for.

-- +goose Up
CREATE TABLE bounties (
    id           TEXT PRIMARY KEY,
    sponsor_id   TEXT NOT NULL REFERENCES accounts (id),
    kind         TEXT NOT NULL CHECK (kind IN ('test_run', 'docs', 'triage', 'custom')),
    title        TEXT NOT NULL,
    description  TEXT NOT NULL,
    link         TEXT NOT NULL,
    asset        TEXT NOT NULL,
    reward       BIGINT NOT NULL CHECK (reward > 0),
    fee_per_unit BIGINT NOT NULL CHECK (fee_per_unit >= 0),
    fee_bps      BIGINT NOT NULL,
    units        INTEGER NOT NULL CHECK (units > 0),
    units_paid   INTEGER NOT NULL CHECK (units_paid >= 0),
    approval     TEXT NOT NULL CHECK (approval IN ('ci', 'review')),
    claim_window BIGINT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('open', 'cancelled', 'expired')),
    deadline     BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    closed_at    BIGINT,
    CHECK (units_paid <= units)
);
CREATE INDEX bounties_status ON bounties (status, id);
CREATE INDEX bounties_sponsor ON bounties (sponsor_id, id);

-- Who may approve a review bounty's submissions, besides its sponsor.
CREATE TABLE bounty_reviewers (
    bounty_id  TEXT NOT NULL REFERENCES bounties (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    PRIMARY KEY (bounty_id, account_id)
);

-- Every CI result ever reported for a bounty, paid or not: a (run, test) is accepted once.
CREATE TABLE bounty_results (
    bounty_id   TEXT NOT NULL REFERENCES bounties (id),
    run_id      TEXT NOT NULL,
    test        TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'skip')),
    contributor TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('paid', 'failing', 'over_budget', 'rejected')),
    reason      TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    url         TEXT NOT NULL,
    ledger_tx   TEXT REFERENCES ledger_transactions (id),
    reported_by TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (bounty_id, run_id, test)
);

CREATE TABLE bounty_claims (
    id         TEXT PRIMARY KEY,
    bounty_id  TEXT NOT NULL REFERENCES bounties (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    status     TEXT NOT NULL CHECK (status IN ('active', 'submitted', 'released')),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX bounty_claims_one_active ON bounty_claims (bounty_id, account_id) WHERE status = 'active';

CREATE TABLE bounty_submissions (
    id         TEXT PRIMARY KEY,
    bounty_id  TEXT NOT NULL REFERENCES bounties (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    claim_id   TEXT REFERENCES bounty_claims (id),
    evidence   TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    reason     TEXT NOT NULL,
    decided_by TEXT,
    ledger_tx  TEXT REFERENCES ledger_transactions (id),
    created_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX bounty_submissions_bounty ON bounty_submissions (bounty_id, id);

-- A GitHub login belongs to at most one account, and an account has at most one login.
CREATE TABLE github_links (
    login      TEXT PRIMARY KEY,
    account_id TEXT NOT NULL UNIQUE REFERENCES accounts (id),
    via        TEXT NOT NULL,
    linked_at  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE github_links;
DROP TABLE bounty_submissions;
DROP TABLE bounty_claims;
DROP TABLE bounty_results;
DROP TABLE bounty_reviewers;
DROP TABLE bounties;
