package accounts

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/stipend/stipend"
)

// Scopes an API key can carry. ScopeAdmin allows everything.
const (
	ScopeAdmin     = "admin"
	ScopeRead      = "account:read"
	ScopeKeys      = "keys:write"
	ScopeTransfers = "transfers:write"
	ScopeBounties  = "bounties:write"
	ScopeCIReport  = "ci:report"
	ScopeAnswer    = "experts:answer"
	ScopePayouts   = "payouts:write"
	ScopeEndpoints = "endpoints:write"
)

// KnownScopes returns every scope.
func KnownScopes() []string {
	return []string{ScopeAdmin, ScopeRead, ScopeKeys, ScopeTransfers, ScopeBounties, ScopeCIReport, ScopeAnswer, ScopePayouts, ScopeEndpoints}
}

// DefaultScopes returns the scopes given to a new key that names none: everything a person
// does with their own account. CI tokens and admin keys are asked for by name.
func DefaultScopes() []string {
	return []string{ScopeRead, ScopeKeys, ScopeTransfers, ScopeBounties, ScopeAnswer, ScopePayouts, ScopeEndpoints}
}

// Key is an API key. Its secret is shown once, when it is created; Stipend keeps only a hash.
type Key struct {
	ID         string
	AccountID  string
	Name       string
	Hint       string // the first characters of the secret, to recognise it in a list
	Scopes     []string
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// Allows reports whether the key carries scope, or admin.
func (k *Key) Allows(scope string) bool {
	return slices.Contains(k.Scopes, ScopeAdmin) || slices.Contains(k.Scopes, scope)
}

// AllowsFor reports whether the key carries scope for a resource: the scope itself (for all
// of its account's resources), its resource-bound form "scope:resource", or admin.
func (k *Key) AllowsFor(scope, resource string) bool {
	return k.Allows(scope) || slices.Contains(k.Scopes, scope+":"+resource)
}

// Usable reports whether the key is neither revoked nor expired at now.
func (k *Key) Usable(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// NewKey is a key to create.
type NewKey struct {
	AccountID string
	Name      string
	Scopes    []string
	ExpiresAt *time.Time
}

// CheckScopes returns EINVALID unless every scope is known and none repeats. A CI token may be
// bound to one bounty: "ci:report:<bounty id>".
func CheckScopes(scopes []string) error {
	seen := make(map[string]bool, len(scopes))
	for _, s := range scopes {
		if id, ok := strings.CutPrefix(s, ScopeCIReport+":"); ok && validResourceID(id) {
			if seen[s] {
				return stipend.Errorf(stipend.EINVALID, "scopes: %q repeated", s)
			}
			seen[s] = true
			continue
		}
		if !slices.Contains(KnownScopes(), s) {
			return stipend.Errorf(stipend.EINVALID, "scopes: unknown scope %q (known: %s)", clip(s), strings.Join(KnownScopes(), ", "))
		}
		if seen[s] {
			return stipend.Errorf(stipend.EINVALID, "scopes: %q repeated", s)
		}
		seen[s] = true
	}
	return nil
}

// secretPrefix starts every API key, so that secret scanners and people recognise one.
const secretPrefix = "stp_"

// NewSecret returns a new random API key secret and its hash.
func NewSecret() (secret, hash string) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("accounts: the system's random source failed: " + err.Error())
	}
	secret = secretPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	return secret, HashSecret(secret)
}

// HashSecret returns the stored form of a secret. A key has 256 random bits, so a plain
// SHA-256 is as strong as a slow password hash would be, and cheap on every request.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// SecretHint returns the part of a secret shown in lists.
func SecretHint(secret string) string {
	if len(secret) < 12 {
		return ""
	}
	return secret[:12]
}

// wellFormedSecret rejects obviously foreign credentials before the database is asked.
func wellFormedSecret(s string) bool {
	if !strings.HasPrefix(s, secretPrefix) || len(s) != len(secretPrefix)+52 {
		return false
	}
	for _, c := range s[len(secretPrefix):] {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// validResourceID reports whether s looks like an id made by stipend.NewID.
func validResourceID(s string) bool {
	prefix, rest, ok := strings.Cut(s, "_")
	if !ok || prefix == "" || len(prefix) > 8 || len(rest) != 32 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !(rest[i] >= '0' && rest[i] <= '9' || rest[i] >= 'a' && rest[i] <= 'f') {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
