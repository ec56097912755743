-- Each charity gets an organisation account of its own, with the charity's handle: its
-- donations are credited to that account's balance, and the payout engine pays them out to
-- the charity's destination like any other balance (a Lightning destination becomes the
-- account's payout preference). The account has no members, so only operators act for it.
--
-- Charities registered before this version get their accounts here. Their donations were
-- credited to "charity:<id>" ledger accounts, which no release ever did (charities and this
-- migration ship together), so there is no balance to move.

-- +goose Up
ALTER TABLE charities ADD COLUMN account_id TEXT REFERENCES accounts (id);
INSERT INTO accounts (id, kind, handle, name, email, created_at)
    SELECT 'acct_' || substr(id, 5), 'org', handle, name, '', created_at FROM charities;
UPDATE charities SET account_id = 'acct_' || substr(id, 5);
CREATE UNIQUE INDEX charities_account ON charities (account_id);

-- +goose Down
DROP INDEX charities_account;
ALTER TABLE charities DROP COLUMN account_id;
