-- L402 credentials (DESIGN.md section 6). Every minted macaroon has a root key of its own,
-- keyed by the token id in its identifier, so that one leaked key opens one token and a key
-- can be dropped without touching any other. Keys are stored hex-encoded as TEXT because the
-- two databases share no binary column type.
--
-- l402_consumed records the payment hash of every single-use credential that was served. Its
-- primary key is what makes N concurrent replays of one credential succeed exactly once: the
-- middleware inserts here in the same transaction as the side effect it pays for.

-- +goose Up
CREATE TABLE l402_root_keys (
    token_id   TEXT PRIMARY KEY,
    root_key   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE l402_consumed (
    payment_hash TEXT PRIMARY KEY,
    route        TEXT NOT NULL,
    consumed_at  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE l402_consumed;
DROP TABLE l402_root_keys;
