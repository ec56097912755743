// Package accounts holds the people and organisations that use Stipend, the API keys they act
// with, and the rules of who may see and change what.
package accounts

import (
	"net/mail"
	"strings"
	"time"

	"github.com/stipend/stipend"
)

// Account kinds.
const (
	KindUser = "user"
	KindOrg  = "org"
)

// Member roles in an organisation. Owners act for it; members may read it.
const (
	RoleOwner  = "owner"
	RoleMember = "member"
)

// Account is a user or an organisation. Each has one wallet in the ledger.
type Account struct {
	ID        string
	Kind      string
	Handle    string
	Name      string
	Email     string
	Owners    []string // for an organisation, the users who own it
	CreatedAt time.Time
}

// NewAccount is an account to create.
type NewAccount struct {
	Kind   string
	Handle string
	Name   string
	Email  string
	Owners []string
}

// Normalize lower-cases the handle and trims the email, then validates.
//
// Returns EINVALID.
func (n *NewAccount) Normalize() error {
	n.Handle = asciiLower(n.Handle)
	n.Email = strings.TrimSpace(n.Email)
	switch n.Kind {
	case KindUser:
		if len(n.Owners) > 0 {
			return stipend.Errorf(stipend.EINVALID, "owners: only an organisation has owners")
		}
	case KindOrg:
	default:
		return stipend.Errorf(stipend.EINVALID, "kind: must be \"user\" or \"org\"")
	}
	if err := ValidateHandle(n.Handle); err != nil {
		return err
	}
	if err := stipend.CheckText("name", n.Name, 100, false); err != nil {
		return err
	}
	if n.Email != "" {
		if len(n.Email) > 254 {
			return stipend.Errorf(stipend.EINVALID, "email: at most 254 characters")
		}
		// net/mail accepts bidi overrides and zero-width characters, which make one address
		// look like another.
		if err := stipend.CheckText("email", n.Email, 254, false); err != nil {
			return err
		}
		addr, err := mail.ParseAddress(n.Email)
		if err != nil || addr.Address != n.Email {
			return stipend.Errorf(stipend.EINVALID, "email: not a valid address")
		}
	}
	seen := make(map[string]bool, len(n.Owners))
	for _, o := range n.Owners {
		if o == "" || seen[o] {
			return stipend.Errorf(stipend.EINVALID, "owners: empty or repeated account id")
		}
		seen[o] = true
	}
	return nil
}

// ValidateHandle returns EINVALID unless h is 1 to 39 lowercase ASCII letters, digits and
// single hyphens, not at either end: the shape of a GitHub login, and nothing a homoglyph can
// imitate.
func ValidateHandle(h string) error {
	bad := len(h) == 0 || len(h) > 39 || h[0] == '-' || h[len(h)-1] == '-' || strings.Contains(h, "--")
	for i := 0; i < len(h) && !bad; i++ {
		c := h[i]
		bad = !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')
	}
	if bad {
		return stipend.Errorf(stipend.EINVALID, "handle: must be 1 to 39 lowercase letters, digits and single hyphens, not starting or ending with a hyphen")
	}
	return nil
}

// asciiLower lower-cases only the ASCII letters of s. strings.ToLower would also turn look-alikes
// such as the Kelvin sign (U+212A) and the dotted capital I (U+0130) into ASCII "k" and "i",
// letting them through ValidateHandle.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}
