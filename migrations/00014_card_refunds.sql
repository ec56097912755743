-- Refunds of card fundings (issue 7). A refund takes money off the account's balance and
-- gives it back to the card that paid the funding. The row and the ledger's debit are stored
-- first, in one transaction, and the refund is then asked of Stripe with the row's id as the
-- idempotency key (persist before send). state: pending (stored, not yet taken by Stripe),
-- sent (Stripe took it and is processing it), succeeded, or failed (Stripe refused it or it
-- failed later: the debit was reversed, reversal_tx). card_fundings.refunded is what the
-- funding's refunds that have not failed add up to; it never exceeds the amount paid.

-- +goose Up
ALTER TABLE card_fundings ADD COLUMN refunded BIGINT NOT NULL DEFAULT 0;

CREATE TABLE card_refunds (
    id            TEXT PRIMARY KEY,
    funding_id    TEXT NOT NULL REFERENCES card_fundings (id),
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    request_key   TEXT NOT NULL UNIQUE,
    asset         TEXT NOT NULL,
    amount        BIGINT NOT NULL CHECK (amount > 0),
    state         TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'succeeded', 'failed')),
    stripe_refund TEXT UNIQUE,
    ledger_tx     TEXT NOT NULL REFERENCES ledger_transactions (id),
    reversal_tx   TEXT REFERENCES ledger_transactions (id),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX card_refunds_funding ON card_refunds (funding_id, created_at);

-- +goose Down
DROP TABLE card_refunds;
ALTER TABLE card_fundings DROP COLUMN refunded;
