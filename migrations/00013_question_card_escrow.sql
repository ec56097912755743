-- Card escrow of expert questions (issue 7). A question paid by card waits for the asker to
-- authorise a Stripe PaymentIntent with manual capture (awaiting_payment), opens when Stripe
-- reports the authorisation, and is captured on its answer or released (cancelled) when it
-- ends otherwise. Its escrow is the card's authorisation, not a hold on a balance, so hold_id
-- is empty for it, as for Lightning.
--
-- The escrow check of questions must admit 'card'. Neither database can relax a CHECK
-- constraint in place in the same syntax, so the table is rebuilt, and question_invoices,
-- which references it, with it: the new tables are made and filled, the old ones dropped, and
-- the new ones renamed (both databases carry the foreign key over to the new name).

-- +goose Up
CREATE TABLE questions_v13 (
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
    escrow          TEXT NOT NULL CHECK (escrow IN ('balance', 'lightning', 'card')),
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
INSERT INTO questions_v13 (id, idempotency_key, input_hash, expert_id, asker_id, body, asset, price, fee_bps, charity_id,
    charity_share, escrow, hold_id, status, answer_window, deadline, answer, decline_reason, fee, charity_amount, earnings,
    ledger_tx, rating, rating_comment, created_at, closed_at)
SELECT id, idempotency_key, input_hash, expert_id, asker_id, body, asset, price, fee_bps, charity_id,
    charity_share, escrow, hold_id, status, answer_window, deadline, answer, decline_reason, fee, charity_amount, earnings,
    ledger_tx, rating, rating_comment, created_at, closed_at
FROM questions;

CREATE TABLE question_invoices_v13 (
    question_id      TEXT PRIMARY KEY REFERENCES questions_v13 (id),
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
INSERT INTO question_invoices_v13 (question_id, payment_hash, preimage, payment_request, amount_msat, cltv_expiry, expires_at,
    state, accept_height, htlc_expiry, amount_paid_msat, updated_at)
SELECT question_id, payment_hash, preimage, payment_request, amount_msat, cltv_expiry, expires_at,
    state, accept_height, htlc_expiry, amount_paid_msat, updated_at
FROM question_invoices;

DROP TABLE question_invoices;
DROP TABLE questions;
ALTER TABLE questions_v13 RENAME TO questions;
ALTER TABLE question_invoices_v13 RENAME TO question_invoices;
CREATE INDEX questions_asker ON questions (asker_id, id);
CREATE INDEX questions_expert ON questions (expert_id, id);
CREATE INDEX question_invoices_state ON question_invoices (state);

-- The card escrow of a question. payment_intent is empty until Stripe has made the intent:
-- the row is stored first, and the intent's idempotency key derives from the question, so a
-- creation whose reply was lost is found again. state is what Stipend has decided and done:
-- pending (waiting for the asker to authorise), authorized (the question is open), capture or
-- cancel (decided in the transaction that answered or closed the question, done by a job),
-- captured (and credited in the ledger) or canceled (released at Stripe), failed (Stripe
-- would not capture an answered question's payment; an operator must look). pay_by is when a
-- payment not yet authorised is given up; capture_by, once authorised, the latest the
-- capture is planned, inside Stripe's seven-day authorisation.
CREATE TABLE question_card_escrows (
    question_id     TEXT PRIMARY KEY REFERENCES questions (id),
    payment_intent  TEXT UNIQUE,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'authorized', 'capture', 'captured', 'cancel', 'canceled', 'failed')),
    pay_by          BIGINT NOT NULL,
    capture_by      BIGINT NOT NULL,
    amount_captured BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX question_card_escrows_state ON question_card_escrows (state);

-- +goose Down
DROP TABLE question_card_escrows;
DELETE FROM questions WHERE escrow = 'card';
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
INSERT INTO questions_v8 SELECT id, idempotency_key, input_hash, expert_id, asker_id, body, asset, price, fee_bps, charity_id,
    charity_share, escrow, hold_id, status, answer_window, deadline, answer, decline_reason, fee, charity_amount, earnings,
    ledger_tx, rating, rating_comment, created_at, closed_at FROM questions;
CREATE TABLE question_invoices_v8 (
    question_id      TEXT PRIMARY KEY REFERENCES questions_v8 (id),
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
INSERT INTO question_invoices_v8 SELECT question_id, payment_hash, preimage, payment_request, amount_msat, cltv_expiry,
    expires_at, state, accept_height, htlc_expiry, amount_paid_msat, updated_at FROM question_invoices;
DROP TABLE question_invoices;
DROP TABLE questions;
ALTER TABLE questions_v8 RENAME TO questions;
ALTER TABLE question_invoices_v8 RENAME TO question_invoices;
CREATE INDEX questions_asker ON questions (asker_id, id);
CREATE INDEX questions_expert ON questions (expert_id, id);
CREATE INDEX question_invoices_state ON question_invoices (state);
