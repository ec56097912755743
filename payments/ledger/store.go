package ledger

import (
	"context"
)

// Balance is an account's money in one asset: what it can spend and what is reserved in
// active holds.
type Balance struct {
	Asset     Asset
	Available int64
	Held      int64
}

// TransactionFilter selects transactions for a listing, newest first.
type TransactionFilter struct {
	OwnerID string // transactions touching any account the owner has
	Address string // or transactions touching this one address
	Cursor  string // the id of the last transaction of the previous page
	Limit   int
}

// Store is the ledger's storage. Every method is atomic: a transaction, hold or release is
// written whole or not at all, and the balance checks are made in the same database
// transaction as the write, so concurrent callers can never overdraw a bounded account.
type Store interface {
	// Post writes t. Posting a key again with the same content returns the first transaction
	// and writes nothing. Entries on hold accounts are refused: they move only through holds.
	// Returns EINVALID, ENOTFOUND (a wallet whose account does not exist),
	// EINSUFFICIENTFUNDS and EIDEMPOTENCYMISMATCH (the key was used for a different transaction).
	Post(ctx context.Context, t NewTransaction) (*Transaction, error)

	// Reverse posts a transaction that undoes txID, with its entries negated. A transaction
	// can be reversed once; hold, release, capture and reversal transactions cannot be.
	// Returns ENOTFOUND, ECONFLICT, EINSUFFICIENTFUNDS and EIDEMPOTENCYMISMATCH.
	Reverse(ctx context.Context, txID, key, memo, createdBy string) (*Transaction, error)

	// Transaction returns one transaction. Returns ENOTFOUND.
	Transaction(ctx context.Context, id string) (*Transaction, error)

	// Transactions lists transactions, newest first, and the cursor of the next page ("" at
	// the end). Returns EINVALID for a malformed cursor or limit.
	Transactions(ctx context.Context, f TransactionFilter) ([]Transaction, string, error)

	// Balances returns the balance of address in every asset it has held.
	Balances(ctx context.Context, address string) ([]Balance, error)

	// Hold reserves an amount. A retried key with the same content returns the first hold.
	// Returns EINVALID, ENOTFOUND, EINSUFFICIENTFUNDS and EIDEMPOTENCYMISMATCH.
	Hold(ctx context.Context, h NewHold) (*Hold, error)

	// GetHold returns a hold. Returns ENOTFOUND.
	GetHold(ctx context.Context, id string) (*Hold, error)

	// Capture moves part or all of what a hold has left to the destinations; the hold becomes
	// captured when nothing is left. A retried key returns the hold without moving money again.
	// Returns EINVALID, ENOTFOUND, ECONFLICT (the hold is no longer active),
	// EINSUFFICIENTFUNDS (more than is left) and EIDEMPOTENCYMISMATCH.
	Capture(ctx context.Context, holdID, key, memo string, to []Entry) (*Hold, error)

	// Release returns what a hold has left to its account, exactly once: of any number of
	// concurrent releases and captures, a release succeeds only while the hold is active.
	// Returns ENOTFOUND and ECONFLICT (already released or fully captured).
	Release(ctx context.Context, holdID, memo string) (*Hold, error)
}
