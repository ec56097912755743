package l402

import (
	"strconv"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"gopkg.in/macaroon.v2"
)

// The caveat conditions Stipend mints and understands. A macaroon carrying any other
// condition is refused.
const (
	// CondRoute binds a token to one route pattern, as the router names it (e.g. Echo's
	// c.Path(), "/v1/experts/:handle/ask"), so that a token paid for one price cannot open
	// another route.
	CondRoute = "route"
	// CondExpires bounds a token's life, in unix seconds, for routes that sell reusable access.
	CondExpires = "expires"
	// CondMethod binds a token to one HTTP method, for routes whose methods are priced apart.
	CondMethod = "method"
	// CondAccount binds a token to the Stipend account its payment is deposited into, for
	// routes that act for an account (asking an expert): the token is the payer's deposit,
	// and opens the route only as that account.
	CondAccount = "account"
)

// Caveat is one first-party caveat, "condition=value" on the wire as aperture writes them.
type Caveat struct {
	Condition string
	Value     string
}

// String returns the caveat in its wire form.
func (c Caveat) String() string { return c.Condition + "=" + c.Value }

// ParseCaveat splits a wire caveat at its first "=". The condition must be non-empty; the
// value may contain further "=" signs.
func ParseCaveat(s string) (Caveat, error) {
	cond, value, ok := strings.Cut(s, "=")
	if !ok || cond == "" {
		return Caveat{}, stipend.Errorf(stipend.EINVALID, "caveat is not of the form condition=value")
	}
	return Caveat{Condition: cond, Value: value}, nil
}

// RouteCaveats returns the caveats for a token that opens route until expires. A zero
// expires means no expiry caveat: the token is only good for one call, and single use is
// enforced by the consumed-payment table, not by the macaroon. An empty method means any
// method of the route.
func RouteCaveats(route, method string, expires time.Time) []Caveat {
	cs := []Caveat{{Condition: CondRoute, Value: route}}
	if method != "" {
		cs = append(cs, Caveat{Condition: CondMethod, Value: strings.ToUpper(method)})
	}
	if !expires.IsZero() {
		cs = append(cs, Caveat{Condition: CondExpires, Value: strconv.FormatInt(expires.Unix(), 10)})
	}
	return cs
}

// AccountCaveat binds a token to an account.
func AccountCaveat(accountID string) Caveat { return Caveat{Condition: CondAccount, Value: accountID} }

// CaveatValue returns the value of the first caveat with condition cond, unverified: only for
// finding which account a token claims before Verify checks that claim.
func CaveatValue(mac *macaroon.Macaroon, cond string) string {
	for _, c := range mac.Caveats() {
		if c.VerificationId != nil {
			continue
		}
		if parsed, err := ParseCaveat(string(c.Id)); err == nil && parsed.Condition == cond {
			return parsed.Value
		}
	}
	return ""
}
