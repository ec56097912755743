-- Paid calls of priced routes and provider endpoints (DESIGN.md section 6).
--
-- paid_calls has one row per call served under a single-use credential (an L402 token without
-- an expiry, a Payment credential) or paid from a prepaid balance (credits). A call is
-- reserved before its handler runs and then served (its ledger credit posted in the same
-- transaction) or refunded. The reservation carries a lease: a server that dies mid-call
-- leaves a row another request can take over once the lease ends, and the late server's
-- finish is refused by its stale lease token.
--
-- l402_consumed, which version 10 created and nothing wrote, becomes the claim of a single-use
-- payment hash: its primary key is what makes N concurrent replays of one credential succeed
-- exactly once. A refunded call deletes its claim, so that an anonymous payer, who has no
-- balance to credit, can present the same credential again.
--
-- server_secrets keeps secrets every server of one deployment must share, such as the key that
-- binds Payment-scheme challenge ids.
--
-- endpoints are providers' upstream APIs, sold per call through /x/{endpoint}/...

-- +goose Up
DROP TABLE l402_consumed;

CREATE TABLE paid_calls (
    id           TEXT PRIMARY KEY,
    route        TEXT NOT NULL,
    method       TEXT NOT NULL CHECK (method IN ('l402', 'payment', 'credits')),
    payment_hash TEXT,
    payer_id     TEXT REFERENCES accounts (id),
    hold_id      TEXT,
    payee_id     TEXT REFERENCES accounts (id),
    asset        TEXT NOT NULL,
    amount       BIGINT NOT NULL CHECK (amount > 0),
    fee          BIGINT NOT NULL CHECK (fee >= 0 AND fee <= amount),
    state        TEXT NOT NULL CHECK (state IN ('reserved', 'served', 'refunded')),
    lease_token  TEXT NOT NULL,
    lease_until  BIGINT NOT NULL,
    ledger_tx    TEXT,
    created_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX paid_calls_reserved ON paid_calls (state, lease_until);
CREATE INDEX paid_calls_payee ON paid_calls (payee_id, created_at);

CREATE TABLE l402_consumed (
    payment_hash TEXT PRIMARY KEY,
    call_id      TEXT NOT NULL REFERENCES paid_calls (id),
    consumed_at  BIGINT NOT NULL
);

CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE endpoints (
    id           TEXT PRIMARY KEY,
    owner_id     TEXT NOT NULL REFERENCES accounts (id),
    name         TEXT NOT NULL,
    upstream     TEXT NOT NULL,
    path_pattern TEXT NOT NULL,
    asset        TEXT NOT NULL,
    price        BIGINT NOT NULL CHECK (price > 0),
    token_ttl    BIGINT NOT NULL CHECK (token_ttl >= 0),
    status       TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX endpoints_owner ON endpoints (owner_id, created_at);

-- +goose Down
DROP TABLE endpoints;
DROP TABLE server_secrets;
DROP TABLE l402_consumed;
DROP TABLE paid_calls;
CREATE TABLE l402_consumed (
    payment_hash TEXT PRIMARY KEY,
    route        TEXT NOT NULL,
    consumed_at  BIGINT NOT NULL
);
