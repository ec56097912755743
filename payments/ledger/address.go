package ledger

import (
	"strings"

	"github.com/stipend/stipend"
)

// A ledger account is named by an address: segments separated by colons, the first naming its
// kind. Only external accounts, which stand for money outside Stipend (the operator's bank, a
// Lightning node, Stripe), may go negative; every other account is bounded at zero.
const (
	prefixAccount  = "accounts:"
	prefixHold     = "holds:"
	prefixExternal = "external:"
)

// FeesAddress collects platform fees.
const FeesAddress = "platform:fees"

// OperatorAddress is the external source of operator (admin) credits.
const OperatorAddress = prefixExternal + "operator"

// AccountAddress is the wallet of a user or organisation account.
func AccountAddress(accountID string) string { return prefixAccount + accountID }

// HoldAddress is the account that holds the money reserved by one hold.
func HoldAddress(holdID string) string { return prefixHold + holdID }

// ExternalAddress is an account standing for money outside Stipend, such as "lightning".
func ExternalAddress(name string) string { return prefixExternal + name }

// AllowsNegative reports whether the account at address may go below zero.
func AllowsNegative(address string) bool { return strings.HasPrefix(address, prefixExternal) }

// IsHold reports whether address is a hold account.
func IsHold(address string) bool { return strings.HasPrefix(address, prefixHold) }

// OwnerOf returns the id of the user or organisation that owns a wallet address, or "" for
// addresses that belong to no account.
func OwnerOf(address string) string {
	if id, ok := strings.CutPrefix(address, prefixAccount); ok {
		return id
	}
	return ""
}

// ValidateAddress returns EINVALID unless address is two or more colon-separated segments of
// ASCII letters, digits, '_', '-' and '.'.
func ValidateAddress(address string) error {
	if address == "" || len(address) > 200 {
		return stipend.Errorf(stipend.EINVALID, "address %q: must be 1 to 200 characters", clip(address))
	}
	segments := strings.Split(address, ":")
	if len(segments) < 2 {
		return stipend.Errorf(stipend.EINVALID, "address %q: must have a kind and a name, like \"accounts:ID\"", clip(address))
	}
	for _, s := range segments {
		if s == "" {
			return stipend.Errorf(stipend.EINVALID, "address %q: empty segment", clip(address))
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
				return stipend.Errorf(stipend.EINVALID, "address %q: invalid character", clip(address))
			}
		}
	}
	return nil
}
