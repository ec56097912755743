-- Lightning escrow of expert questions. A question paid by a hold invoice waits for the
-- payer's HTLC (awaiting_payment), opens when it is accepted, and ends unpaid when the invoice
-- expires first; its escrow is the HTLC, not a hold on a balance, so hold_id is empty for it.
-- The question's answer window is kept, since its deadline is set only when it opens.
--
-- Neither database can relax a CHECK constraint in place in the same syntax, so the table is
-- rebuilt; nothing references it.

-- +goose Up
CREATE TABLE questions_v8 (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    input_hash      TEXT NOT NULL,
    expert_id       TEXT NOT NULL REFERENCES accounts (id),
    asker_id        TEXT NOT NULL REFERENCES accounts (id),
    body            TEXT NOT NULL,
    asset           TEXT NOT NULL,
    price           BIGINT NOT NULL CHECK (price > 0),
    fee_bps         BIGINT NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
    charity_id      TEXT REFERENCES charities (id),
    charity_share   BIGINT NOT NULL CHECK (charity_share BETWEEN 0 AND 10000),
    escrow          TEXT NOT NULL CHECK (escrow IN ('balance', 'lightning')),
    hold_id         TEXT REFERENCES ledger_holds (id),
    status          TEXT NOT NULL CHECK (status IN ('awaiting_payment', 'open', 'answered', 'declined', 'expired', 'unpaid')),
    answer_window   BIGINT NOT NULL CHECK (answer_window > 0),
    deadline        BIGINT NOT NULL,
    answer          TEXT NOT NULL,
    decline_reason  TEXT NOT NULL,
    fee             BIGINT NOT NULL,
    charity_amount  BIGINT NOT NULL,
    earnings        BIGINT NOT NULL,
    ledger_tx       TEXT REFERENCES ledger_transactions (id),
    rating          INTEGER NOT NULL CHECK (rating BETWEEN 0 AND 5),
    rating_comment  TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    closed_at       BIGINT,
    CHECK (fee + charity_amount + earnings IN (0, price)),
    CHECK (charity_id IS NOT NULL OR charity_share = 0),
    CHECK ((escrow = 'balance') = (hold_id IS NOT NULL))
);

INSERT INTO questions_v8 (id, idempotency_key, input_hash, expert_id, asker_id, body, asset, price, fee_bps, charity_id,
    charity_share, escrow, hold_id, status, answer_window, deadline, answer, decline_reason, fee, charity_amount, earnings,
    ledger_tx, rating, rating_comment, created_at, closed_at)
SELECT id, idempotency_key, input_hash, expert_id, asker_id, body, asset, price, fee_bps, charity_id,
    charity_share, escrow, hold_id, status, deadline - created_at, deadline, answer, decline_reason, fee, charity_amount, earnings,
    ledger_tx, rating, rating_comment, created_at, closed_at
FROM questions;

DROP TABLE questions;
ALTER TABLE questions_v8 RENAME TO questions;
CREATE INDEX questions_asker ON questions (asker_id, id);
CREATE INDEX questions_expert ON questions (expert_id, id);

-- The hold invoice of a question with Lightning escrow. The preimage is the secret that
-- settles it; it never leaves the database except to the node. state is what Stipend has
-- decided and done: open (waiting for the payer), accepted (the HTLC is held and the question
-- open), settle or cancel (decided in the transaction that answered or closed the question,
-- and done by a job), settled or canceled (done at the node; settled also credited in the
-- ledger), failed (the node refused a settle it was told to make; an operator must look).
CREATE TABLE question_invoices (
    question_id      TEXT PRIMARY KEY REFERENCES questions (id),
    payment_hash     TEXT NOT NULL UNIQUE,
    preimage         TEXT NOT NULL,
    payment_request  TEXT NOT NULL,
    amount_msat      BIGINT NOT NULL CHECK (amount_msat > 0),
    cltv_expiry      BIGINT NOT NULL CHECK (cltv_expiry > 0),
    expires_at       BIGINT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('open', 'accepted', 'settle', 'settled', 'cancel', 'canceled', 'failed')),
    accept_height    BIGINT NOT NULL,
    htlc_expiry      BIGINT NOT NULL,
    amount_paid_msat BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX question_invoices_state ON question_invoices (state);

-- +goose Down
DROP TABLE question_invoices;
DELETE FROM questions WHERE escrow <> 'balance';
CREATE TABLE questions_v7 (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    input_hash      TEXT NOT NULL,
    expert_id       TEXT NOT NULL REFERENCES accounts (id),
    asker_id        TEXT NOT NULL REFERENCES accounts (id),
    body            TEXT NOT NULL,
    asset           TEXT NOT NULL,
    price           BIGINT NOT NULL CHECK (price > 0),
    fee_bps         BIGINT NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
    charity_id      TEXT REFERENCES charities (id),
    charity_share   BIGINT NOT NULL CHECK (charity_share BETWEEN 0 AND 10000),
    escrow          TEXT NOT NULL CHECK (escrow IN ('balance')),
    hold_id         TEXT NOT NULL REFERENCES ledger_holds (id),
    status          TEXT NOT NULL CHECK (status IN ('open', 'answered', 'declined', 'expired')),
    deadline        BIGINT NOT NULL,
    answer          TEXT NOT NULL,
    decline_reason  TEXT NOT NULL,
    fee             BIGINT NOT NULL,
    charity_amount  BIGINT NOT NULL,
    earnings        BIGINT NOT NULL,
    ledger_tx       TEXT REFERENCES ledger_transactions (id),
    rating          INTEGER NOT NULL CHECK (rating BETWEEN 0 AND 5),
    rating_comment  TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    closed_at       BIGINT,
    CHECK (fee + charity_amount + earnings IN (0, price)),
    CHECK (charity_id IS NOT NULL OR charity_share = 0)
);
INSERT INTO questions_v7 SELECT id, idempotency_key, input_hash, expert_id, asker_id, body, asset, price, fee_bps, charity_id,
    charity_share, escrow, hold_id, status, deadline, answer, decline_reason, fee, charity_amount, earnings, ledger_tx, rating,
    rating_comment, created_at, closed_at FROM questions;
DROP TABLE questions;
ALTER TABLE questions_v7 RENAME TO questions;
CREATE INDEX questions_asker ON questions (asker_id, id);
CREATE INDEX questions_expert ON questions (expert_id, id);
