// Package api is Stipend's HTTP API on echo v4: one route table (routes.go), handlers that
// translate HTTP to domain calls, and one error handler that maps domain error codes to
// statuses and RFC 9457 problem JSON.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/bounties"
	"github.com/stipend/stipend/endpoints"
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/internal/idempotency"
	"github.com/stipend/stipend/payments"
	"github.com/stipend/stipend/payments/funding"
	"github.com/stipend/stipend/payments/payout"
	"github.com/stipend/stipend/payments/paywall"
	"github.com/stipend/stipend/payments/stripe"
)

// Deps are the domain services the API calls.
type Deps struct {
	Accounts  *accounts.Service
	Payments  *payments.Service
	Fundings  *funding.Service
	Payouts   *payout.Service
	Bounties  *bounties.Service
	Experts   *experts.Service
	Endpoints *endpoints.Service
	// Paywall sells priced calls; nil answers priced routes with 503.
	Paywall *paywall.Service
	// Stripe funds balances by card and onboards payees; StripeVerifier checks its webhooks.
	Stripe         *stripe.Service
	StripeVerifier stripe.Verifier
	// Now is the clock webhook timestamps are judged by; time.Now when nil.
	Now         func() time.Time
	Idempotency idempotency.Store
	// Ready reports whether the service can take traffic (database up, schema current).
	Ready func(context.Context) error
	// Registry receives the API's metrics; /metrics serves it.
	Registry *prometheus.Registry
	Logger   *slog.Logger
}

// Options tune the API.
type Options struct {
	Version   string
	BodyLimit int64 // bytes; default 1 MiB
	// ResultsLimit is the largest upload of CI results, in bytes; default 32 MiB.
	ResultsLimit int64
	// IdempotencyLease is how long a request holds its Idempotency-Key before another request
	// may take it over; IdempotencyWait is how long a concurrent request with the same key
	// waits for the first one's response.
	IdempotencyLease time.Duration
	IdempotencyWait  time.Duration
	// ChallengeRate and ChallengeBurst limit the 402 challenges issued to one client, per
	// minute and at once; ChallengeBurst 0 means no limit.
	ChallengeRate  float64
	ChallengeBurst int
	// Upstream is the HTTP client that calls providers' endpoints; ProxyResponseLimit bounds
	// an upstream's response in bytes (default 8 MiB).
	Upstream           *http.Client
	ProxyResponseLimit int64
}

// Server is the HTTP API.
type Server struct {
	echo           *echo.Echo
	accounts       *accounts.Service
	payments       *payments.Service
	fundings       *funding.Service
	payouts        *payout.Service
	bounties       *bounties.Service
	experts        *experts.Service
	endpoints      *endpoints.Service
	paywall        *paywall.Service
	stripe         *stripe.Service
	stripeVerifier stripe.Verifier
	now            func() time.Time
	challenges     *challengeLimiter
	idem           idempotency.Store
	ready          func(context.Context) error
	log            *slog.Logger
	registry       *prometheus.Registry
	metrics        *metrics
	opts           Options
	doc            *openapi3.T
	docJSON        []byte
}

// New builds the API with every route of the route table.
func New(d Deps, o Options) (*Server, error) {
	if o.BodyLimit == 0 {
		o.BodyLimit = 1 << 20
	}
	if o.ResultsLimit == 0 {
		o.ResultsLimit = 32 << 20
	}
	if o.IdempotencyLease == 0 {
		o.IdempotencyLease = time.Minute
	}
	if o.IdempotencyWait == 0 {
		o.IdempotencyWait = 30 * time.Second
	}
	if o.ProxyResponseLimit == 0 {
		o.ProxyResponseLimit = 8 << 20
	}
	if o.Upstream == nil {
		o.Upstream = &http.Client{Timeout: 30 * time.Second}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	s := &Server{
		echo:           echo.New(),
		accounts:       d.Accounts,
		payments:       d.Payments,
		fundings:       d.Fundings,
		payouts:        d.Payouts,
		bounties:       d.Bounties,
		experts:        d.Experts,
		endpoints:      d.Endpoints,
		paywall:        d.Paywall,
		stripe:         d.Stripe,
		stripeVerifier: d.StripeVerifier,
		now:            d.Now,
		challenges:     newChallengeLimiter(o.ChallengeRate, o.ChallengeBurst),
		idem:           d.Idempotency,
		ready:          d.Ready,
		log:            d.Logger,
		registry:       d.Registry,
		opts:           o,
	}
	m, err := newMetrics(d.Registry)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	e := s.echo
	e.HideBanner, e.HidePort = true, true
	// The client's address is the connection's, not what a header claims: challenges are
	// rate-limited by it.
	e.IPExtractor = echo.ExtractIPDirect()
	ownLimit := map[string]bool{}
	for _, r := range s.routes() {
		if r.BodyLimit > 0 {
			ownLimit[echoPath(r.Path, r.Tail)] = true
		}
	}
	e.HTTPErrorHandler = s.handleError
	e.Use(
		requestID,
		s.observe,
		middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: s.logPanic}),
		// Routes with a limit of their own (uploads of CI results) skip the general one.
		middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
			Limit:   strconv.FormatInt(o.BodyLimit, 10) + "B",
			Skipper: func(c echo.Context) bool { return ownLimit[c.Path()] },
		}),
	)
	for _, r := range s.routes() {
		mw := []echo.MiddlewareFunc{}
		if r.BodyLimit > 0 {
			mw = append(mw, middleware.BodyLimit(strconv.FormatInt(r.BodyLimit, 10)+"B"))
		}
		switch {
		case r.Deposit != nil:
			mw = append(mw, s.payable(r.Scope, r.Deposit))
		case r.Priced != nil:
			// The paywall authenticates credits itself and runs the Idempotency-Key
			// machinery under the payer's name.
			mw = append(mw, s.priced(r.Priced, r.MovesMoney))
		case r.Auth:
			mw = append(mw, s.authenticate(r.Scope))
			if r.MovesMoney {
				mw = append(mw, s.idempotent)
			}
		case r.MovesMoney:
			mw = append(mw, s.idempotent)
		}
		for _, m := range r.methods() {
			e.Add(m, echoPath(r.Path, r.Tail), r.Handler, mw...)
		}
	}
	if s.doc, s.docJSON, err = s.buildOpenAPI(); err != nil {
		return nil, err
	}
	return s, nil
}

// ServeHTTP makes the Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

func (s *Server) logPanic(c echo.Context, err error, stack []byte) error {
	s.log.Error("panic in handler", "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
		"route", c.Path(), "error", err, "stack", string(stack))
	return err
}

// Route is a method and path the server answers, in OpenAPI's path syntax.
type Route struct{ Method, Path string }

// Routes lists what the router really serves, read back from echo, so that a test can hold
// it against the OpenAPI document.
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.echo.Routes() {
		parts := strings.Split(r.Path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") {
				parts[i] = "{" + p[1:] + "}"
			}
			if p == "*" {
				parts[i] = "{path}"
			}
		}
		out = append(out, Route{Method: r.Method, Path: strings.Join(parts, "/")})
	}
	return out
}
