-- Fiat through Stripe (DESIGN.md sections 3, 4 and 9).
--
-- stripe_accounts links a Stipend account to its Stripe Connect account, to which payouts in
-- USD and EUR are transferred; payouts_enabled follows Stripe's account.updated events.
--
-- card_fundings are fundings of a balance by card: the row is stored before the PaymentIntent
-- is created (persist before send), and credited once, when the payment_intent.succeeded
-- event arrives.
--
-- stripe_events records every webhook event applied, by Stripe's event id, in the transaction
-- of its effect: an event delivered again, in any order, applies nothing.

-- +goose Up
CREATE TABLE stripe_accounts (
    account_id        TEXT PRIMARY KEY REFERENCES accounts (id),
    stripe_account    TEXT NOT NULL UNIQUE,
    payouts_enabled   BOOLEAN NOT NULL,
    details_submitted BOOLEAN NOT NULL,
    -- the creation time of the Stripe event the state comes from, so that an older event
    -- delivered late cannot undo a newer one
    state_at          BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE card_fundings (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    request_key    TEXT NOT NULL UNIQUE,
    asset          TEXT NOT NULL,
    amount         BIGINT NOT NULL CHECK (amount > 0),
    payment_intent TEXT UNIQUE,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
    amount_paid    BIGINT,
    ledger_tx      TEXT,
    created_at     BIGINT NOT NULL,
    settled_at     BIGINT
);
CREATE INDEX card_fundings_account ON card_fundings (account_id, created_at);

CREATE TABLE stripe_events (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    created     BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE stripe_events;
DROP TABLE card_fundings;
DROP TABLE stripe_accounts;
