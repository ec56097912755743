package apptest

import (
	"github.com/stipend/stipend/internal/app"
	"github.com/stipend/stipend/internal/config"
)

// WithPaywall tunes priced routes and the proxy to providers' endpoints as stipendd's flags do:
// the challenge rate limit, the call lease, the upstream timeout, and whether upstreams may be
// on loopback or private addresses, which tests of the proxy need for their httptest
// upstreams.
func WithPaywall(p config.Paywall) Option {
	return func(o *app.Options) { o.Paywall = p }
}
