// Package payments moves money between Stipend's accounts on behalf of callers: operator
// credits and transfers now, and (in its sub-packages) the rails that bring money in and
// take it out. The ledger itself is payments/ledger.
package payments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/payments/ledger"
)

// Service moves money between accounts, checking who may.
type Service struct {
	ledger   ledger.Store
	accounts *accounts.Service
}

// NewService returns a Service.
func NewService(l ledger.Store, a *accounts.Service) *Service {
	return &Service{ledger: l, accounts: a}
}

// EventKey derives the ledger key of a caller's request from its Idempotency-Key. The key is
// hashed so that any header value, however long, gives a bounded ledger key, and it is scoped
// to the caller so that two callers' keys never collide.
func EventKey(kind, actorID, idempotencyKey string) string {
	sum := sha256.Sum256([]byte(idempotencyKey))
	return kind + ":" + actorID + ":" + hex.EncodeToString(sum[:16])
}

// AdminCredit credits an account, named by id or handle, from the operator's external
// account, recorded in the ledger as an admin credit with the operator and key that made it.
//
// Returns EFORBIDDEN (not an admin), EINVALID, ENOTFOUND (no such account) and
// EIDEMPOTENCYMISMATCH.
func (s *Service) AdminCredit(ctx context.Context, actor *accounts.Principal, accountID string, amount ledger.Amount, memo, idempotencyKey string) (*ledger.Transaction, error) {
	if err := accounts.Require(actor, accounts.ScopeAdmin); err != nil {
		return nil, err
	}
	if err := amount.CheckPositive("amount"); err != nil {
		return nil, err
	}
	if accountID == "" {
		return nil, stipend.Errorf(stipend.EINVALID, "account_id: required")
	}
	dest, err := s.accounts.Resolve(ctx, accountID)
	if err != nil {
		return nil, err
	}
	accountID = dest.ID
	t := ledger.Transfer(EventKey(ledger.KindAdminCredit, actor.Account.ID, idempotencyKey), ledger.KindAdminCredit,
		ledger.OperatorAddress, ledger.AccountAddress(accountID), amount)
	t.Memo = memo
	t.CreatedBy = actor.Account.ID
	t.Metadata = map[string]string{"admin_key_id": actor.Key.ID}
	return s.ledger.Post(ctx, t)
}

// Transfer moves amount from an account the actor may spend from (its own when from is "")
// to another account named by id or handle.
//
// Returns EFORBIDDEN, EINVALID, ENOTFOUND, EINSUFFICIENTFUNDS and EIDEMPOTENCYMISMATCH.
func (s *Service) Transfer(ctx context.Context, actor *accounts.Principal, from, to string, amount ledger.Amount, memo, idempotencyKey string) (*ledger.Transaction, error) {
	if err := accounts.Require(actor, accounts.ScopeTransfers); err != nil {
		return nil, err
	}
	if err := amount.CheckPositive("amount"); err != nil {
		return nil, err
	}
	if from == "" {
		from = actor.Account.ID
	}
	if err := s.accounts.Authorize(ctx, actor, from, accounts.Spend); err != nil {
		return nil, err
	}
	if to == "" {
		return nil, stipend.Errorf(stipend.EINVALID, "to: name the account to pay, by id or handle")
	}
	dest, err := s.accounts.Resolve(ctx, to)
	if err != nil {
		return nil, err
	}
	if dest.ID == from {
		return nil, stipend.Errorf(stipend.EINVALID, "to: cannot transfer to the same account")
	}
	t := ledger.Transfer(EventKey(ledger.KindTransfer, actor.Account.ID, idempotencyKey), ledger.KindTransfer,
		ledger.AccountAddress(from), ledger.AccountAddress(dest.ID), amount)
	t.Memo = memo
	t.CreatedBy = actor.Account.ID
	tx, err := s.ledger.Post(ctx, t)
	if stipend.ErrorCode(err) == stipend.EINSUFFICIENTFUNDS {
		return nil, stipend.Errorf(stipend.EINSUFFICIENTFUNDS, "account %s has less than %s available", from, amount)
	}
	return tx, err
}

// Balances returns the balances of an account the actor may read.
// Returns EFORBIDDEN and ENOTFOUND.
func (s *Service) Balances(ctx context.Context, actor *accounts.Principal, accountID string) ([]ledger.Balance, error) {
	if err := accounts.Require(actor, accounts.ScopeRead); err != nil {
		return nil, err
	}
	if err := s.accounts.Authorize(ctx, actor, accountID, accounts.Read); err != nil {
		return nil, err
	}
	return s.ledger.Balances(ctx, ledger.AccountAddress(accountID))
}

// Transactions lists the ledger transactions of an account the actor may read, newest first.
// Returns EFORBIDDEN, ENOTFOUND and EINVALID.
func (s *Service) Transactions(ctx context.Context, actor *accounts.Principal, accountID, cursor string, limit int) ([]ledger.Transaction, string, error) {
	if err := accounts.Require(actor, accounts.ScopeRead); err != nil {
		return nil, "", err
	}
	if err := s.accounts.Authorize(ctx, actor, accountID, accounts.Read); err != nil {
		return nil, "", err
	}
	return s.ledger.Transactions(ctx, ledger.TransactionFilter{OwnerID: accountID, Cursor: cursor, Limit: limit})
}
