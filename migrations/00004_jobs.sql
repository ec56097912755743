-- The durable job queue (internal/jobs): an outbox table, so that a job is enqueued in the same
-- database transaction as the state change and the ledger postings it belongs to, on SQLite and
-- PostgreSQL alike. Workers claim jobs under a lease; a job whose lease ran out (its worker died)
-- is claimed again by another worker.

-- +goose Up
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    -- The job's arguments as JSON.
    payload      TEXT NOT NULL,
    -- At most one live (queued or running) job per key; see jobs_unique_live.
    unique_key   TEXT,
    state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    run_at       BIGINT NOT NULL,
    -- Runs started so far, counted when a run is claimed; a snooze gives its run back.
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL CHECK (max_attempts > 0),
    -- The holder of the lease of a running job, and when the lease runs out.
    locked_by    TEXT,
    locked_until BIGINT,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    finished_at  BIGINT
);

-- Claiming looks for queued jobs that are due and running jobs whose lease ran out.
CREATE INDEX jobs_claim ON jobs (state, run_at);

-- A key is free again once its job is done or dead, so that, for example, a reconciliation can
-- be enqueued once per period without two of them ever being queued at the same time.
CREATE UNIQUE INDEX jobs_unique_live ON jobs (unique_key) WHERE state IN ('queued', 'running');

-- +goose Down
DROP TABLE jobs;
