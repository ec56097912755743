package accounts_test

import (
	"strings"
	"testing"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
)

// wantCode fails the test unless err carries the error code want; want "" means no error.
func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := stipend.ErrorCode(err); got != want {
		t.Fatalf("error code = %q, want %q (error: %v)", got, want, err)
	}
}

func validUser() accounts.NewAccount {
	return accounts.NewAccount{Kind: accounts.KindUser, Handle: "alice", Name: "Alice", Email: "alice@example.com"}
}

func TestNewAccountNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		change   func(n *accounts.NewAccount)
		wantCode string
	}{
		{"valid user", func(n *accounts.NewAccount) {}, ""},
		{"organisation with owners", func(n *accounts.NewAccount) {
			n.Kind, n.Owners = accounts.KindOrg, []string{"acct_1", "acct_2"}
		}, ""},
		{"no email", func(n *accounts.NewAccount) { n.Email = "" }, ""},
		{"only spaces as email", func(n *accounts.NewAccount) { n.Email = "   " }, ""},
		{"name of 100 characters", func(n *accounts.NewAccount) { n.Name = strings.Repeat("\u00e9", 100) }, ""},

		{"no kind", func(n *accounts.NewAccount) { n.Kind = "" }, stipend.EINVALID},
		{"unknown kind", func(n *accounts.NewAccount) { n.Kind = "admin" }, stipend.EINVALID},
		{"capitalised kind", func(n *accounts.NewAccount) { n.Kind = "User" }, stipend.EINVALID},
		{"user with owners", func(n *accounts.NewAccount) { n.Owners = []string{"acct_1"} }, stipend.EINVALID},
		{"organisation with an empty owner", func(n *accounts.NewAccount) {
			n.Kind, n.Owners = accounts.KindOrg, []string{"acct_1", ""}
		}, stipend.EINVALID},
		{"organisation with an owner twice", func(n *accounts.NewAccount) {
			n.Kind, n.Owners = accounts.KindOrg, []string{"acct_1", "acct_1"}
		}, stipend.EINVALID},

		{"no handle", func(n *accounts.NewAccount) { n.Handle = "" }, stipend.EINVALID},
		{"invalid handle", func(n *accounts.NewAccount) { n.Handle = "al_ice" }, stipend.EINVALID},
		// Lower-casing must not turn a look-alike into a real letter: the Kelvin sign K
		// (U+212A) and the dotted capital I (U+0130) lower-case to ASCII "k" and "i".
		{"Kelvin sign in the handle", func(n *accounts.NewAccount) { n.Handle = "\u212Aelvin" }, stipend.EINVALID},
		{"dotted capital I in the handle", func(n *accounts.NewAccount) { n.Handle = "\u0130van" }, stipend.EINVALID},
		{"Cyrillic a in the handle", func(n *accounts.NewAccount) { n.Handle = "\u0430lice" }, stipend.EINVALID},

		{"no name", func(n *accounts.NewAccount) { n.Name = "" }, stipend.EINVALID},
		{"name of 101 characters", func(n *accounts.NewAccount) { n.Name = strings.Repeat("n", 101) }, stipend.EINVALID},
		{"name with a bidi override", func(n *accounts.NewAccount) { n.Name = "Alice\u202e" }, stipend.EINVALID},
		{"name with a zero-width space", func(n *accounts.NewAccount) { n.Name = "Ali\u200bce" }, stipend.EINVALID},

		{"email with a display name", func(n *accounts.NewAccount) { n.Email = "Alice <alice@example.com>" }, stipend.EINVALID},
		{"email without an at sign", func(n *accounts.NewAccount) { n.Email = "alice.example.com" }, stipend.EINVALID},
		{"two emails", func(n *accounts.NewAccount) { n.Email = "a@example.com, b@example.com" }, stipend.EINVALID},
		{"email of 255 characters", func(n *accounts.NewAccount) {
			n.Email = strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com"
		}, stipend.EINVALID},
		// net/mail accepts these, but they make one address look like another.
		{"email with a bidi override", func(n *accounts.NewAccount) { n.Email = "alice\u202e@example.com" }, stipend.EINVALID},
		{"email with a zero-width space", func(n *accounts.NewAccount) { n.Email = "alice@exa\u200bmple.com" }, stipend.EINVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := validUser()
			tc.change(&n)
			wantCode(t, n.Normalize(), tc.wantCode)
		})
	}
}

func TestNormalizeLowersTheHandleAndTrimsTheEmail(t *testing.T) {
	t.Parallel()
	n := accounts.NewAccount{Kind: accounts.KindUser, Handle: "Alice-Smith42", Name: "Alice", Email: "  alice@example.com\n"}
	wantCode(t, n.Normalize(), "")
	if n.Handle != "alice-smith42" {
		t.Errorf("handle = %q, want %q", n.Handle, "alice-smith42")
	}
	if n.Email != "alice@example.com" {
		t.Errorf("email = %q, want %q", n.Email, "alice@example.com")
	}
	// The name is shown as the person wrote it.
	if n.Name != "Alice" {
		t.Errorf("name = %q, want it unchanged", n.Name)
	}
}

func TestValidateHandle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		handle   string
		wantCode string
	}{
		{"a", ""},
		{"alice", ""},
		{"123", ""},
		{"alice-smith", ""},
		{"a-b-c", ""},
		{strings.Repeat("a", 39), ""},
		{"", stipend.EINVALID},
		{strings.Repeat("a", 40), stipend.EINVALID},
		// ValidateHandle checks a handle already lower-cased by Normalize.
		{"Alice", stipend.EINVALID},
		{"-alice", stipend.EINVALID},
		{"alice-", stipend.EINVALID},
		{"-", stipend.EINVALID},
		{"al--ice", stipend.EINVALID},
		{"al_ice", stipend.EINVALID},
		{"al.ice", stipend.EINVALID},
		{"al ice", stipend.EINVALID},
		{"alice\n", stipend.EINVALID},
		{"alice\x00", stipend.EINVALID},
		{"\u0430lice", stipend.EINVALID},                 // Cyrillic a
		{"\u03bfpen", stipend.EINVALID},                  // Greek omicron
		{"\uff41lice", stipend.EINVALID},                 // fullwidth a
		{"al\u200bice", stipend.EINVALID},                // zero-width space
		{"alice\u0301", stipend.EINVALID},                // combining accent
		{"\u212Aelvin", stipend.EINVALID},                // Kelvin sign
		{"caf\u00e9", stipend.EINVALID},                  // non-ASCII letter
		{"al\u2010ice", stipend.EINVALID},                // Unicode hyphen
		{"\xff", stipend.EINVALID},                       // invalid UTF-8
		{strings.Repeat("\u00e9", 19), stipend.EINVALID}, // 38 bytes, 19 characters
	}
	for _, tc := range tests {
		t.Run(tc.handle, func(t *testing.T) {
			t.Parallel()
			wantCode(t, accounts.ValidateHandle(tc.handle), tc.wantCode)
		})
	}
}
