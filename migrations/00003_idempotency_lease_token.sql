-- A request that holds an Idempotency-Key now holds it with a token of its own, so that a request
-- whose lease ran out (and was taken over) can no longer store or drop the key under the request
-- that took it over.

-- +goose Up
ALTER TABLE idempotency_keys ADD COLUMN lease_token TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN lease_token;
