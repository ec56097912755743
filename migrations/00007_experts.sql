-- Expert questions: the charity registry and its donation receipts, expert profiles, and the
-- questions asked of experts with the terms they were asked on.

-- +goose Up
CREATE TABLE charities (
    id           TEXT PRIMARY KEY,
    handle       TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    website      TEXT NOT NULL,
    receipt      TEXT NOT NULL,
    destinations TEXT NOT NULL, -- JSON: rail → destination
    created_at   BIGINT NOT NULL
);

CREATE TABLE expert_profiles (
    account_id    TEXT PRIMARY KEY REFERENCES accounts (id),
    name          TEXT NOT NULL,
    bio           TEXT NOT NULL,
    topics        TEXT NOT NULL, -- space-separated, each lowercase without spaces
    asset         TEXT NOT NULL,
    price         BIGINT NOT NULL CHECK (price > 0),
    answer_window BIGINT NOT NULL CHECK (answer_window > 0),
    accepting     BOOLEAN NOT NULL,
    charity_id    TEXT REFERENCES charities (id),
    charity_share BIGINT NOT NULL CHECK (charity_share BETWEEN 0 AND 10000),
    updated_at    BIGINT NOT NULL,
    CHECK (charity_id IS NOT NULL OR charity_share = 0)
);

CREATE TABLE questions (
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
CREATE INDEX questions_asker ON questions (asker_id, id);
CREATE INDEX questions_expert ON questions (expert_id, id);

CREATE TABLE donations (
    id          TEXT PRIMARY KEY,
    charity_id  TEXT NOT NULL REFERENCES charities (id),
    donor_id    TEXT NOT NULL REFERENCES accounts (id),
    question_id TEXT NOT NULL, -- a question or a list question
    source_id   TEXT NOT NULL UNIQUE, -- what paid: the question, or one reply to a list question
    asset       TEXT NOT NULL,
    amount      BIGINT NOT NULL CHECK (amount > 0),
    ledger_tx   TEXT NOT NULL REFERENCES ledger_transactions (id),
    created_at  BIGINT NOT NULL
);
CREATE INDEX donations_charity ON donations (charity_id, id);

-- Lists of experts that one question goes to, each reply paid while responses bought last.
CREATE TABLE expert_lists (
    id            TEXT PRIMARY KEY,
    handle        TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL,
    asset         TEXT NOT NULL,
    price         BIGINT NOT NULL CHECK (price > 0),
    answer_window BIGINT NOT NULL CHECK (answer_window > 0),
    created_at    BIGINT NOT NULL
);

CREATE TABLE expert_list_members (
    list_id    TEXT NOT NULL REFERENCES expert_lists (id),
    account_id TEXT NOT NULL REFERENCES expert_profiles (account_id),
    PRIMARY KEY (list_id, account_id)
);
CREATE INDEX expert_list_members_account ON expert_list_members (account_id);

CREATE TABLE list_questions (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    input_hash      TEXT NOT NULL,
    list_id         TEXT NOT NULL REFERENCES expert_lists (id),
    asker_id        TEXT NOT NULL REFERENCES accounts (id),
    body            TEXT NOT NULL,
    asset           TEXT NOT NULL,
    price           BIGINT NOT NULL CHECK (price > 0),
    fee_bps         BIGINT NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
    responses       INTEGER NOT NULL CHECK (responses > 0),
    paid            INTEGER NOT NULL CHECK (paid >= 0),
    hold_id         TEXT NOT NULL REFERENCES ledger_holds (id),
    status          TEXT NOT NULL CHECK (status IN ('open', 'completed', 'expired')),
    deadline        BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    closed_at       BIGINT,
    CHECK (paid <= responses)
);
CREATE INDEX list_questions_asker ON list_questions (asker_id, id);
CREATE INDEX list_questions_list ON list_questions (list_id, id);

CREATE TABLE list_replies (
    id             TEXT PRIMARY KEY,
    question_id    TEXT NOT NULL REFERENCES list_questions (id),
    expert_id      TEXT NOT NULL REFERENCES accounts (id),
    answer         TEXT NOT NULL,
    charity_id     TEXT REFERENCES charities (id),
    charity_share  BIGINT NOT NULL CHECK (charity_share BETWEEN 0 AND 10000),
    fee            BIGINT NOT NULL,
    charity_amount BIGINT NOT NULL,
    earnings       BIGINT NOT NULL,
    ledger_tx      TEXT NOT NULL REFERENCES ledger_transactions (id),
    created_at     BIGINT NOT NULL,
    UNIQUE (question_id, expert_id)
);

-- +goose Down
DROP TABLE list_replies;
DROP TABLE list_questions;
DROP TABLE expert_list_members;
DROP TABLE expert_lists;
DROP TABLE donations;
DROP TABLE questions;
DROP TABLE expert_profiles;
DROP TABLE charities;
