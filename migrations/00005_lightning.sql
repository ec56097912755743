-- Lightning: funding invoices and where the invoice subscription stopped; payouts and the
-- payout preferences that drive automatic sweeps.

-- +goose Up
CREATE TABLE ln_fundings (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    amount_msat      BIGINT NOT NULL CHECK (amount_msat > 0),
    payment_hash     TEXT NOT NULL UNIQUE,
    payment_request  TEXT NOT NULL,
    memo             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open', 'settled')),
    amount_paid_msat BIGINT,
    ledger_tx        TEXT REFERENCES ledger_transactions (id),
    expires_at       BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    settled_at       BIGINT
);
CREATE INDEX ln_fundings_account ON ln_fundings (account_id, id);

-- The settle index up to which a node's settled invoices have been applied.
CREATE TABLE ln_cursors (
    node         TEXT PRIMARY KEY,
    settle_index BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- A payout's row holds everything needed to follow it to its end after a crash: the amount,
-- the destination, the external idempotency handle (the payment hash) and the fee cap. It is
-- in_flight, committed, before the rail is called.
CREATE TABLE payouts (
    id           TEXT PRIMARY KEY,
    request_key  TEXT NOT NULL UNIQUE,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    rail         TEXT NOT NULL,
    asset        TEXT NOT NULL,
    amount       BIGINT NOT NULL CHECK (amount > 0),
    fee_cap      BIGINT NOT NULL CHECK (fee_cap >= 0),
    fee_paid     BIGINT,
    destination  TEXT NOT NULL,
    invoice      TEXT NOT NULL DEFAULT '',
    payment_hash TEXT UNIQUE,
    proof        TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL CHECK (status IN ('requested', 'in_flight', 'succeeded', 'failed', 'cancelled')),
    failure      TEXT NOT NULL DEFAULT '',
    source       TEXT NOT NULL CHECK (source IN ('request', 'sweep')),
    revision     INTEGER NOT NULL,
    reserve_tx   TEXT NOT NULL REFERENCES ledger_transactions (id),
    settle_tx    TEXT REFERENCES ledger_transactions (id),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    sent_at      BIGINT,
    finished_at  BIGINT
);
CREATE INDEX payouts_account ON payouts (account_id, id);
CREATE INDEX payouts_open ON payouts (status) WHERE status IN ('requested', 'in_flight');
-- At most one automatic sweep of an account and asset at a time.
CREATE UNIQUE INDEX payouts_one_sweep ON payouts (account_id, asset)
    WHERE source = 'sweep' AND status IN ('requested', 'in_flight');

CREATE TABLE payout_preferences (
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    asset       TEXT NOT NULL,
    rail        TEXT NOT NULL,
    destination TEXT NOT NULL,
    minimum     BIGINT NOT NULL CHECK (minimum >= 0),
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, asset)
);

-- +goose Down
DROP TABLE payout_preferences;
DROP TABLE payouts;
DROP TABLE ln_cursors;
DROP TABLE ln_fundings;
