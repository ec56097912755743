// Package endpoints is the registry of providers' priced APIs: a provider registers an
// upstream URL, the paths below it that may be called and a price per call, and Stipend sells
// calls of /x/{endpoint}/... through the paywall, proxying each paid call to the upstream and
// crediting the provider the price less the platform fee.
package endpoints

import (
	"context"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/paywall"
)

// Endpoint states.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled"
)

// Limits of a registration.
const (
	MaxNameLen     = 100
	MaxUpstreamLen = 2048
	MaxPatternLen  = 512
	MaxTTL         = 30 * 24 * time.Hour
	// MaxPrice is one bitcoin per call, in msat: more is surely a mistake of units.
	MaxPrice = 100_000_000_000
)

// Endpoint is a provider's priced upstream API.
type Endpoint struct {
	ID          string
	OwnerID     string
	Name        string
	Upstream    string // an absolute http(s) URL; the called path is appended to its path
	PathPattern string // "/exact/path", or a prefix ending in "/*"
	Price       ledger.Amount
	TTL         time.Duration // 0: one call per payment
	Status      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// NewEndpoint is a registration.
type NewEndpoint struct {
	Name        string
	Upstream    string
	PathPattern string
	Price       ledger.Amount
	TTL         time.Duration
}

// Store keeps endpoints.
type Store interface {
	// CreateEndpoint stores a new endpoint. Returns ENOTFOUND (no such owner).
	CreateEndpoint(ctx context.Context, e *Endpoint) error
	// Endpoint returns one endpoint. Returns ENOTFOUND.
	Endpoint(ctx context.Context, id string) (*Endpoint, error)
	// EndpointsOf returns an owner's endpoints, newest first.
	EndpointsOf(ctx context.Context, ownerID string) ([]Endpoint, error)
	// SetEndpointStatus changes an endpoint's status. Returns ENOTFOUND.
	SetEndpointStatus(ctx context.Context, id, status string) (*Endpoint, error)
}

// Service registers endpoints and prices their calls.
type Service struct {
	store    Store
	accounts *accounts.Service
	now      func() time.Time
}

// NewService returns a Service.
func NewService(store Store, a *accounts.Service, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, accounts: a, now: now}
}

// Validate returns EINVALID unless n is a registration Stipend can serve.
func (n NewEndpoint) Validate() error {
	if err := stipend.CheckText("name", n.Name, MaxNameLen, false); err != nil {
		return err
	}
	if err := checkUpstream(n.Upstream); err != nil {
		return err
	}
	if err := checkPattern(n.PathPattern); err != nil {
		return err
	}
	if n.Price.Asset != ledger.BTC {
		return stipend.Errorf(stipend.EINVALID, "price: endpoints are priced in BTC, which every payment method can pay")
	}
	if err := n.Price.CheckPositive("price"); err != nil {
		return err
	}
	if n.Price.Value > MaxPrice {
		return stipend.Errorf(stipend.EINVALID, "price: at most 1 BTC per call")
	}
	if n.TTL < 0 || n.TTL > MaxTTL || n.TTL%time.Second != 0 {
		return stipend.Errorf(stipend.EINVALID, "ttl_seconds: a whole number of seconds from 0 (one call per payment) to %d", int64(MaxTTL/time.Second))
	}
	return nil
}

func checkUpstream(raw string) error {
	if raw == "" || len(raw) > MaxUpstreamLen {
		return stipend.Errorf(stipend.EINVALID, "upstream: an http or https URL of at most %d characters", MaxUpstreamLen)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return stipend.Errorf(stipend.EINVALID, "upstream: an absolute http or https URL, such as https://api.example.com/v1")
	}
	if u.User != nil {
		return stipend.Errorf(stipend.EINVALID, "upstream: credentials in the URL would be shown to no one but could leak in logs; the upstream must accept the proxied calls without them")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return stipend.Errorf(stipend.EINVALID, "upstream: no query or fragment; the caller's query is passed through")
	}
	return nil
}

func checkPattern(p string) error {
	if p == "" || len(p) > MaxPatternLen || !strings.HasPrefix(p, "/") {
		return stipend.Errorf(stipend.EINVALID, "path_pattern: a path starting with /, such as /v1/forecast or /v1/* (at most %d characters)", MaxPatternLen)
	}
	body := strings.TrimSuffix(p, "*")
	if strings.Contains(body, "*") || (strings.HasSuffix(p, "*") && !strings.HasSuffix(p, "/*")) {
		return stipend.Errorf(stipend.EINVALID, "path_pattern: * may only end the pattern, after a /")
	}
	for seg := range strings.SplitSeq(body, "/") {
		if seg == "." || seg == ".." {
			return stipend.Errorf(stipend.EINVALID, "path_pattern: no . or .. segments")
		}
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f || r == '?' || r == '#' || r == '%' {
			return stipend.Errorf(stipend.EINVALID, "path_pattern: no spaces, control characters, ?, # or %%")
		}
	}
	return nil
}

// Register stores a new endpoint owned by the caller's account.
// Returns EINVALID, EFORBIDDEN (the key lacks the scope).
func (s *Service) Register(ctx context.Context, actor *accounts.Principal, n NewEndpoint) (*Endpoint, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	e := &Endpoint{ID: stipend.NewID("ep"), OwnerID: actor.Account.ID, Name: n.Name, Upstream: n.Upstream, PathPattern: n.PathPattern,
		Price: n.Price, TTL: n.TTL, Status: StatusActive, CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateEndpoint(ctx, e); err != nil {
		return nil, err
	}
	return e, nil
}

// Get returns an active endpoint, for callers. Returns ENOTFOUND (also for a disabled one).
func (s *Service) Get(ctx context.Context, id string) (*Endpoint, error) {
	e, err := s.store.Endpoint(ctx, id)
	if err != nil {
		return nil, err
	}
	if e.Status != StatusActive {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no endpoint %s", clip(id))
	}
	return e, nil
}

// Mine returns the endpoints of the caller's account.
func (s *Service) Mine(ctx context.Context, actor *accounts.Principal) ([]Endpoint, error) {
	return s.store.EndpointsOf(ctx, actor.Account.ID)
}

// Disable stops selling an endpoint's calls. Tokens already sold stop working with it.
// Returns ENOTFOUND and EFORBIDDEN (not the owner's, nor an owner of its organisation).
func (s *Service) Disable(ctx context.Context, actor *accounts.Principal, id string) (*Endpoint, error) {
	e, err := s.store.Endpoint(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.accounts.Authorize(ctx, actor, e.OwnerID, accounts.Manage); err != nil {
		return nil, err
	}
	return s.store.SetEndpointStatus(ctx, id, StatusDisabled)
}

// Route is the name under which an endpoint's calls are sold: what its L402 tokens open.
func (e *Endpoint) Route() string { return "/x/" + e.ID }

// Offer is the paywall offer of one call of e: its price, to its owner.
func (e *Endpoint) Offer() paywall.Offer {
	return paywall.Offer{Route: e.Route(), Price: e.Price, TTL: e.TTL, SellerID: e.OwnerID, Description: clip(e.Name)}
}

// Allows reports whether path (below the endpoint, starting with /) may be called.
func (e *Endpoint) Allows(path string) bool {
	if prefix, ok := strings.CutSuffix(e.PathPattern, "*"); ok {
		return strings.HasPrefix(path, prefix) || path+"/" == prefix
	}
	return path == e.PathPattern
}

// clip cuts s to at most 100 bytes without splitting a character: the result goes into
// invoice memos, which must be valid UTF-8 (lnd refuses a memo that is not).
func clip(s string) string {
	if len(s) <= 100 {
		return s
	}
	n := 100
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
