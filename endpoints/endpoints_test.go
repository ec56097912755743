package endpoints_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/endpoints"
	"github.com/stipend/stipend/payments/ledger"
)

// valid is a registration that passes; each case changes one thing.
func valid() endpoints.NewEndpoint {
	return endpoints.NewEndpoint{Name: "Forecasts", Upstream: "https://api.example.com/v1", PathPattern: "/v1/*",
		Price: ledger.Msat(2_100_000)}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*endpoints.NewEndpoint)
		code   string // "" when valid
	}{
		{"the base case", func(*endpoints.NewEndpoint) {}, ""},
		{"plain http, a port and a trailing slash", func(n *endpoints.NewEndpoint) { n.Upstream = "http://api.example.com:8080/" }, ""},
		{"an upstream without a path", func(n *endpoints.NewEndpoint) { n.Upstream = "https://api.example.com" }, ""},
		{"an exact path", func(n *endpoints.NewEndpoint) { n.PathPattern = "/v1/forecast" }, ""},
		{"any path", func(n *endpoints.NewEndpoint) { n.PathPattern = "/*" }, ""},
		{"the root only", func(n *endpoints.NewEndpoint) { n.PathPattern = "/" }, ""},
		{"the highest price", func(n *endpoints.NewEndpoint) { n.Price = ledger.Msat(endpoints.MaxPrice) }, ""},
		{"the longest token life", func(n *endpoints.NewEndpoint) { n.TTL = endpoints.MaxTTL }, ""},
		{"a token life of a second", func(n *endpoints.NewEndpoint) { n.TTL = time.Second }, ""},

		{"no name", func(n *endpoints.NewEndpoint) { n.Name = "" }, stipend.EINVALID},
		{"a name too long", func(n *endpoints.NewEndpoint) { n.Name = strings.Repeat("n", endpoints.MaxNameLen+1) }, stipend.EINVALID},
		{"a control character in the name", func(n *endpoints.NewEndpoint) { n.Name = "bad\x00name" }, stipend.EINVALID},

		{"no upstream", func(n *endpoints.NewEndpoint) { n.Upstream = "" }, stipend.EINVALID},
		{"an upstream too long", func(n *endpoints.NewEndpoint) {
			n.Upstream = "https://api.example.com/" + strings.Repeat("a", endpoints.MaxUpstreamLen)
		}, stipend.EINVALID},
		{"ftp", func(n *endpoints.NewEndpoint) { n.Upstream = "ftp://api.example.com/v1" }, stipend.EINVALID},
		{"file", func(n *endpoints.NewEndpoint) { n.Upstream = "file:///etc/passwd" }, stipend.EINVALID},
		{"javascript", func(n *endpoints.NewEndpoint) { n.Upstream = "javascript:alert(1)" }, stipend.EINVALID},
		{"gopher", func(n *endpoints.NewEndpoint) { n.Upstream = "gopher://api.example.com/" }, stipend.EINVALID},
		{"no scheme", func(n *endpoints.NewEndpoint) { n.Upstream = "//api.example.com/v1" }, stipend.EINVALID},
		{"a relative path", func(n *endpoints.NewEndpoint) { n.Upstream = "/v1" }, stipend.EINVALID},
		{"no host", func(n *endpoints.NewEndpoint) { n.Upstream = "https:///v1" }, stipend.EINVALID},
		{"an opaque URL", func(n *endpoints.NewEndpoint) { n.Upstream = "http:api.example.com" }, stipend.EINVALID},
		{"an unparseable URL", func(n *endpoints.NewEndpoint) { n.Upstream = "https://api.example.com:port/" }, stipend.EINVALID},
		{"a user and password", func(n *endpoints.NewEndpoint) { n.Upstream = "https://user:secret@api.example.com/v1" }, stipend.EINVALID},
		{"a user", func(n *endpoints.NewEndpoint) { n.Upstream = "https://user@api.example.com/v1" }, stipend.EINVALID},
		{"a query", func(n *endpoints.NewEndpoint) { n.Upstream = "https://api.example.com/v1?key=secret" }, stipend.EINVALID},
		{"a fragment", func(n *endpoints.NewEndpoint) { n.Upstream = "https://api.example.com/v1#top" }, stipend.EINVALID},

		{"no pattern", func(n *endpoints.NewEndpoint) { n.PathPattern = "" }, stipend.EINVALID},
		{"a pattern without a leading slash", func(n *endpoints.NewEndpoint) { n.PathPattern = "v1/*" }, stipend.EINVALID},
		{"a pattern too long", func(n *endpoints.NewEndpoint) { n.PathPattern = "/" + strings.Repeat("a", endpoints.MaxPatternLen) }, stipend.EINVALID},
		{"a lone *", func(n *endpoints.NewEndpoint) { n.PathPattern = "*" }, stipend.EINVALID},
		{"* inside the pattern", func(n *endpoints.NewEndpoint) { n.PathPattern = "/v1/*/forecast" }, stipend.EINVALID},
		{"* first", func(n *endpoints.NewEndpoint) { n.PathPattern = "/*/v1" }, stipend.EINVALID},
		{"* not after a slash", func(n *endpoints.NewEndpoint) { n.PathPattern = "/v1*" }, stipend.EINVALID},
		{"**", func(n *endpoints.NewEndpoint) { n.PathPattern = "/v1/**" }, stipend.EINVALID},
		{"a .. segment", func(n *endpoints.NewEndpoint) { n.PathPattern = "/v1/../admin" }, stipend.EINVALID},
		{"a .. segment before *", func(n *endpoints.NewEndpoint) { n.PathPattern = "/v1/../*" }, stipend.EINVALID},
		{"a trailing ..", func(n *endpoints.NewEndpoint) { n.PathPattern = "/v1/.." }, stipend.EINVALID},
		{"a . segment", func(n *endpoints.NewEndpoint) { n.PathPattern = "/v1/./forecast" }, stipend.EINVALID},
		{"a space", func(n *endpoints.NewEndpoint) { n.PathPattern = "/v1/for cast" }, stipend.EINVALID},
		{"a control character", func(n *endpoints.NewEndpoint) { n.PathPattern = "/v1/\x7f" }, stipend.EINVALID},
		{"a query in the pattern", func(n *endpoints.NewEndpoint) { n.PathPattern = "/v1/forecast?city=x" }, stipend.EINVALID},
		{"a fragment in the pattern", func(n *endpoints.NewEndpoint) { n.PathPattern = "/v1/forecast#x" }, stipend.EINVALID},
		{"an escape in the pattern", func(n *endpoints.NewEndpoint) { n.PathPattern = "/v1/%2e%2e/admin" }, stipend.EINVALID},

		{"a USD price", func(n *endpoints.NewEndpoint) { n.Price = ledger.Cents(100, ledger.USD) }, stipend.EINVALID},
		{"a EUR price", func(n *endpoints.NewEndpoint) { n.Price = ledger.Cents(100, ledger.EUR) }, stipend.EINVALID},
		{"an unknown asset", func(n *endpoints.NewEndpoint) { n.Price = ledger.Amount{Value: 100, Asset: "DOGE"} }, stipend.EINVALID},
		{"a price of 0", func(n *endpoints.NewEndpoint) { n.Price = ledger.Msat(0) }, stipend.EINVALID},
		{"a negative price", func(n *endpoints.NewEndpoint) { n.Price = ledger.Msat(-1) }, stipend.EINVALID},
		{"a price over the maximum", func(n *endpoints.NewEndpoint) { n.Price = ledger.Msat(endpoints.MaxPrice + 1) }, stipend.EINVALID},

		{"a negative token life", func(n *endpoints.NewEndpoint) { n.TTL = -time.Second }, stipend.EINVALID},
		{"a token life over the maximum", func(n *endpoints.NewEndpoint) { n.TTL = endpoints.MaxTTL + time.Second }, stipend.EINVALID},
		{"a token life of a fraction of a second", func(n *endpoints.NewEndpoint) { n.TTL = 1500 * time.Millisecond }, stipend.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := valid()
			tc.change(&n)
			if got := stipend.ErrorCode(n.Validate()); got != tc.code {
				t.Fatalf("Validate(%+v) = %q, want %q (%v)", n, got, tc.code, n.Validate())
			}
		})
	}
}

func TestAllows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"/v1/forecast", "/v1/forecast", true},
		{"/v1/forecast", "/v1/forecast/", false},
		{"/v1/forecast", "/v1/forecast/today", false},
		{"/v1/forecast", "/v1/forecasts", false},
		{"/v1/forecast", "/v1", false},
		{"/v1/forecast", "/", false},

		{"/v1/*", "/v1/", true},
		{"/v1/*", "/v1/forecast", true},
		{"/v1/*", "/v1/forecast/today", true},
		{"/v1/*", "/v1", true}, // the prefix itself, without its slash
		{"/v1/*", "/v1x", false},
		{"/v1/*", "/v10/forecast", false},
		{"/v1/*", "/v2/forecast", false},
		{"/v1/*", "/", false},
		{"/v1/*", "/admin", false},

		{"/*", "/", true},
		{"/*", "/anything", true},
		{"/*", "/a/b/c", true},

		{"/v1", "/v1", true},
		{"/v1", "/v1/", false},
		{"/v1", "/v1/forecast", false},

		{"/", "/", true},
		{"/", "/v1", false},
	} {
		e := &endpoints.Endpoint{PathPattern: tc.pattern}
		if got := e.Allows(tc.path); got != tc.want {
			t.Errorf("pattern %q allows %q = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

func TestOffer(t *testing.T) {
	t.Parallel()
	e := &endpoints.Endpoint{ID: "ep_123", OwnerID: "acct_provider", Name: "Forecasts", Upstream: "https://api.example.com",
		PathPattern: "/*", Price: ledger.Msat(2_100_000), TTL: time.Hour, Status: endpoints.StatusActive}
	if r := e.Route(); r != "/x/ep_123" {
		t.Fatalf("route = %q, want /x/ep_123", r)
	}
	o := e.Offer()
	if o.Route != "/x/ep_123" || o.SellerID != "acct_provider" || o.Price != ledger.Msat(2_100_000) || o.TTL != time.Hour ||
		o.Description != "Forecasts" || !o.Reusable() {
		t.Fatalf("offer = %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Fatalf("the offer of a valid endpoint is invalid: %v", err)
	}
	e.TTL = 0
	if e.Offer().Reusable() {
		t.Fatal("an endpoint without a token life sells reusable access")
	}
	// The description goes into invoice memos: clipped, and never through a character.
	for _, name := range []string{strings.Repeat("a", endpoints.MaxNameLen), strings.Repeat("€", endpoints.MaxNameLen), strings.Repeat("é", 51)} {
		e.Name = name
		d := e.Offer().Description
		if len(d) > 100 || !utf8.ValidString(d) || !strings.HasPrefix(name, d) || len(d) < 98 {
			t.Fatalf("description of %q = %q (%d bytes): want a valid UTF-8 prefix of at most 100 bytes", name, d, len(d))
		}
	}
}
