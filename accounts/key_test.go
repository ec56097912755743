package accounts_test

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
)

func TestCheckScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		scopes   []string
		wantCode string
	}{
		{"none", nil, ""},
		{"empty", []string{}, ""},
		{"one", []string{accounts.ScopeRead}, ""},
		{"every known scope", accounts.KnownScopes(), ""},
		{"the defaults", accounts.DefaultScopes(), ""},
		{"unknown", []string{"root"}, stipend.EINVALID},
		{"empty name", []string{""}, stipend.EINVALID},
		{"wrong case", []string{"Admin"}, stipend.EINVALID},
		{"padded", []string{" admin"}, stipend.EINVALID},
		{"prefix of a scope", []string{"account"}, stipend.EINVALID},
		{"repeated", []string{accounts.ScopeRead, accounts.ScopeKeys, accounts.ScopeRead}, stipend.EINVALID},
		{"known then unknown", []string{accounts.ScopeRead, "account:write"}, stipend.EINVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantCode(t, accounts.CheckScopes(tc.scopes), tc.wantCode)
		})
	}
}

func TestDefaultScopesAreKnownAndLeaveOutAdminAndCI(t *testing.T) {
	t.Parallel()
	// A key made without naming scopes must not be able to administer Stipend or to report
	// CI results, which pay out automatically.
	for _, s := range accounts.DefaultScopes() {
		if s == accounts.ScopeAdmin || s == accounts.ScopeCIReport {
			t.Errorf("the default scopes include %q", s)
		}
	}
	wantCode(t, accounts.CheckScopes(accounts.DefaultScopes()), "")
}

func TestKeyAllows(t *testing.T) {
	t.Parallel()
	reader := &accounts.Key{Scopes: []string{accounts.ScopeRead, accounts.ScopeCIReport}}
	if !reader.Allows(accounts.ScopeRead) || !reader.Allows(accounts.ScopeCIReport) {
		t.Error("a key does not allow a scope it carries")
	}
	for _, s := range []string{accounts.ScopeAdmin, accounts.ScopeKeys, accounts.ScopeTransfers, accounts.ScopePayouts, ""} {
		if reader.Allows(s) {
			t.Errorf("a key with %v allows %q", reader.Scopes, s)
		}
	}
	if (&accounts.Key{}).Allows(accounts.ScopeRead) {
		t.Error("a key with no scopes allows account:read")
	}
	// Admin implies every scope.
	admin := &accounts.Key{Scopes: []string{accounts.ScopeAdmin}}
	for _, s := range accounts.KnownScopes() {
		if !admin.Allows(s) {
			t.Errorf("an admin key does not allow %q", s)
		}
	}
	p := &accounts.Principal{Key: *admin}
	if !p.IsAdmin() || !p.Allows(accounts.ScopePayouts) {
		t.Error("a principal with an admin key is not an admin")
	}
	if (&accounts.Principal{Key: *reader}).IsAdmin() {
		t.Error("a principal with a reading key is an admin")
	}
}

func TestKeyUsable(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	tests := []struct {
		name string
		key  accounts.Key
		want bool
	}{
		{"no expiry", accounts.Key{}, true},
		{"expires later", accounts.Key{ExpiresAt: at(time.Nanosecond)}, true},
		{"expires now", accounts.Key{ExpiresAt: at(0)}, false},
		{"expired", accounts.Key{ExpiresAt: at(-time.Hour)}, false},
		{"revoked", accounts.Key{RevokedAt: at(-time.Hour)}, false},
		// Revocation takes effect whenever it is recorded, even with a clock that runs ahead.
		{"revoked in the future", accounts.Key{RevokedAt: at(time.Hour)}, false},
		{"revoked and not expired", accounts.Key{RevokedAt: at(-time.Hour), ExpiresAt: at(time.Hour)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.key.Usable(now); got != tc.want {
				t.Fatalf("Usable = %v, want %v", got, tc.want)
			}
		})
	}
}

var secretPattern = regexp.MustCompile(`^stp_[a-z2-7]{52}$`)

func TestNewSecretIsPrefixedLowerCaseBase32(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 200 {
		secret, hash := accounts.NewSecret()
		if !secretPattern.MatchString(secret) {
			t.Fatalf("NewSecret() = %q, want \"stp_\" and 52 lower-case base32 characters", secret)
		}
		if hash != accounts.HashSecret(secret) {
			t.Fatalf("NewSecret returned hash %q, but HashSecret gives %q", hash, accounts.HashSecret(secret))
		}
		if seen[secret] {
			t.Fatalf("NewSecret repeated %q", secret)
		}
		seen[secret] = true
	}
}

func TestHashSecretIsHexSHA256(t *testing.T) {
	t.Parallel()
	// The known SHA-256 digest of "abc", so that the stored form cannot change unnoticed:
	// every key already issued would stop working.
	if got, want := accounts.HashSecret("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Fatalf("HashSecret(\"abc\") = %q, want %q", got, want)
	}
	secret, _ := accounts.NewSecret()
	sum := sha256.Sum256([]byte(secret))
	if got := accounts.HashSecret(secret); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("HashSecret(%q) = %q, want the hex SHA-256", secret, got)
	}
	if accounts.HashSecret(secret) == accounts.HashSecret(secret+"a") {
		t.Fatal("two secrets hash alike")
	}
}

func TestSecretHintShowsOnlyThePrefixAndEightCharacters(t *testing.T) {
	t.Parallel()
	secret, _ := accounts.NewSecret()
	if got := accounts.SecretHint(secret); got != secret[:12] {
		t.Fatalf("SecretHint(%q) = %q, want %q", secret, got, secret[:12])
	}
	if got := accounts.SecretHint("short"); got != "" {
		t.Fatalf("SecretHint(\"short\") = %q, want \"\"", got)
	}
	if got := accounts.SecretHint("stp_abcdefgh"); got != "stp_abcdefgh" {
		t.Fatalf("SecretHint of 12 characters = %q", got)
	}
}
