package l402

import (
	"strconv"
	"strings"
	"time"

	"github.com/stipend/stipend"
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
