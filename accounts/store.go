package accounts

import (
	"context"
	"time"
)

// Principal is an authenticated caller: the account it acts for and the key it used.
type Principal struct {
	Account Account
	Key     Key
}

// Allows reports whether the caller's key carries scope.
func (p *Principal) Allows(scope string) bool { return p.Key.Allows(scope) }

// IsAdmin reports whether the caller is an operator.
func (p *Principal) IsAdmin() bool { return p.Key.Allows(ScopeAdmin) }

// Store keeps accounts and keys.
type Store interface {
	// CreateAccount stores a, and for an organisation makes a.Owners its owners.
	// Returns ECONFLICT (the handle is taken) and ENOTFOUND (an owner is not a user account).
	CreateAccount(ctx context.Context, a *Account) error

	// Account returns an account by id. Returns ENOTFOUND.
	Account(ctx context.Context, id string) (*Account, error)

	// AccountByHandle returns an account by handle. Returns ENOTFOUND.
	AccountByHandle(ctx context.Context, handle string) (*Account, error)

	// Role returns memberID's role in the organisation orgID, or "" if none (also when there
	// is no such organisation).
	Role(ctx context.Context, orgID, memberID string) (string, error)

	// SetMember gives memberID a role in orgID, adding them if they were not a member.
	SetMember(ctx context.Context, orgID, memberID, role string, at time.Time) error

	// RemoveMember takes memberID out of orgID; removing a non-member changes nothing.
	RemoveMember(ctx context.Context, orgID, memberID string) error

	// CreateKey stores k with the hash of its secret.
	CreateKey(ctx context.Context, k *Key, secretHash string) error

	// Key returns a key by id. Returns ENOTFOUND.
	Key(ctx context.Context, id string) (*Key, error)

	// Keys lists the keys of an account, newest first.
	Keys(ctx context.Context, accountID string) ([]Key, error)

	// RevokeKey marks a key revoked at the given time, and with it, recursively, every key it
	// created for the same account; revoking again changes nothing. Returns ENOTFOUND.
	RevokeKey(ctx context.Context, id string, at time.Time) (*Key, error)

	// KeyBySecretHash returns the key with that hash and its account. Returns ENOTFOUND.
	KeyBySecretHash(ctx context.Context, hash string) (*Principal, error)

	// TouchKey records that a key was used at the given time.
	TouchKey(ctx context.Context, id string, at time.Time) error

	// Bootstrap creates the operator account a and its first admin key k, once per
	// installation. It reports false, and changes nothing, when that already happened.
	Bootstrap(ctx context.Context, a *Account, k *Key, secretHash string) (bool, error)
}
