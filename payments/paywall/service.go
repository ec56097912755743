package paywall

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/l402"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning"
	"gopkg.in/macaroon.v2"
)

// KindPaidCall is the ledger kind of the postings that pay a seller for calls.
const KindPaidCall = "paid_call"

// paymentKeyName names the server secret from which Payment challenge keys are derived.
const paymentKeyName = "payment-challenge"

// depositTokenLife is how long after its invoice expires a deposit token still works.
const depositTokenLife = time.Hour

// LightningKey is the ledger key of the one posting that credits a Lightning payment, whether
// a single-use call or a reusable token's first call makes it: one payment hash, one credit.
func LightningKey(hash string) string { return "lightning_call:" + hash }

// Config tunes a Service.
type Config struct {
	// Node issues and looks up invoices; nil offers credits only.
	Node lightning.Node
	// Network is the node's network, written into Payment challenges ("regtest", ...).
	Network string
	// Realm is the realm of Payment and Bearer challenges.
	Realm string
	// FeeBPS is the platform fee on each call, in basis points of its price.
	FeeBPS int64
	// InvoiceExpiry is how long a challenge's invoice can be paid; default 10 minutes.
	InvoiceExpiry time.Duration
	// Lease is how long a reserved call may take before another request may take its
	// payment over; default 2 minutes. It must outlast the slowest handler.
	Lease time.Duration
	Now   func() time.Time
}

// Service issues challenges and verifies, reserves, serves and refunds paid calls.
type Service struct {
	store  Store
	minter *l402.Minter
	cfg    Config

	keyMu      sync.Mutex
	paymentKey []byte

	// credited remembers the reusable tokens whose seller was already credited, so that the
	// calls after the first cost no ledger write. Losing it (a restart) costs one idempotent
	// Post per token.
	credited boundedSet
}

// New returns a Service keeping calls in store and root keys in keys.
func New(store Store, keys l402.RootKeys, cfg Config) *Service {
	if cfg.InvoiceExpiry <= 0 {
		cfg.InvoiceExpiry = 10 * time.Minute
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Realm == "" {
		cfg.Realm = "stipend"
	}
	return &Service{
		store:    store,
		minter:   l402.NewMinter(newKeyCache(keys, 100_000)),
		cfg:      cfg,
		credited: boundedSet{max: 100_000},
	}
}

// Realm is the realm the service writes into its challenges.
func (s *Service) Realm() string { return s.cfg.Realm }

// Validate returns EINVALID unless the offer names a route and a positive price.
func (o Offer) Validate() error {
	if o.Route == "" {
		return stipend.Errorf(stipend.EINVALID, "a priced route needs a name")
	}
	if o.TTL < 0 {
		return stipend.Errorf(stipend.EINVALID, "a token's lifetime cannot be negative")
	}
	if !o.Price.Asset.Valid() {
		return stipend.Errorf(stipend.EINVALID, "price: unknown asset")
	}
	return o.Price.CheckPositive("price")
}

// Challenge is what a 402 offers for one call.
type Challenge struct {
	Offer Offer
	// Invoice, PaymentHash and Macaroon are set when the price can be paid over Lightning.
	Invoice     string
	PaymentHash l402.Hash
	Macaroon    *macaroon.Macaroon
	// Payment is set when the price is a whole number of satoshis, as the Payment scheme's
	// lightning method writes amounts.
	Payment *l402.PaymentChallenge
	// InvoiceExpires is when the invoice can no longer be paid; TokenExpires when a reusable
	// token stops opening the route.
	InvoiceExpires time.Time
	TokenExpires   time.Time
}

// Challenge issues the challenges of a 402 for o: an invoice for the price with an L402
// macaroon bound to its payment hash and to o.Route, and the Payment challenge of the same
// invoice. Credits need nothing issued. Returns EINVALID and EUNAVAILABLE (the node).
func (s *Service) Challenge(ctx context.Context, o Offer) (*Challenge, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	ch := &Challenge{Offer: o}
	if o.Price.Asset != ledger.BTC || s.cfg.Node == nil {
		return ch, nil
	}
	inv, err := s.cfg.Node.AddInvoice(ctx, lightning.InvoiceRequest{AmountMsat: o.Price.Value, Memo: o.Description, Expiry: s.cfg.InvoiceExpiry})
	if err != nil {
		return nil, err
	}
	hash, err := l402.ParseHash(inv.Hash)
	if err != nil {
		return nil, stipend.Internal(err, "the node returned a malformed payment hash")
	}
	if o.Reusable() {
		// The caveat must state the expiry before the invoice is paid, so the token's life
		// runs from the end of the invoice's: however late the payer pays, they get TTL.
		ch.TokenExpires = inv.ExpiresAt.Add(o.TTL).Truncate(time.Second)
	} else if o.AccountID != "" {
		// A deposit token acts for an account: it should not outlive the session that asked
		// for it by much.
		ch.TokenExpires = inv.ExpiresAt.Add(depositTokenLife).Truncate(time.Second)
	}
	caveats := l402.RouteCaveats(o.Route, "", ch.TokenExpires)
	if o.AccountID != "" {
		caveats = append(caveats, l402.AccountCaveat(o.AccountID))
	}
	mac, err := s.minter.Mint(ctx, l402.MintRequest{PaymentHash: hash, Caveats: caveats, Reusable: o.Reusable()})
	if err != nil {
		return nil, err
	}
	ch.Invoice, ch.PaymentHash, ch.Macaroon, ch.InvoiceExpires = inv.PaymentRequest, hash, mac, inv.ExpiresAt
	// The Payment scheme's charge is one call per payment: it is not offered beside a reusable
	// token for the same invoice, which would sell the payment twice.
	if o.Price.Value%1000 == 0 && o.AccountID == "" && !o.Reusable() {
		key, err := s.routeKey(ctx, o.Route)
		if err != nil {
			return nil, err
		}
		req := l402.PaymentRequest{Amount: strconv.FormatInt(o.Price.Value/1000, 10), Currency: l402.PaymentSats,
			MethodDetails: l402.PaymentDetails{Invoice: inv.PaymentRequest, Network: s.cfg.Network, PaymentHash: hash.String()}}
		// The draft asks that a challenge not outlive its invoice.
		if ch.Payment, err = l402.NewPaymentChallenge(key, s.cfg.Realm, req, inv.ExpiresAt); err != nil {
			return nil, err
		}
	}
	return ch, nil
}

// Credential is what a client presented: one of an L402 credential, a Payment credential or
// the account of an authenticated API key (credits).
type Credential struct {
	L402            *l402.Credential
	Payment         *l402.PaymentCredential
	PaymentPreimage l402.Preimage
	PayerID         string
}

// Grant is a verified, paid permission to serve one request. Reserve, then Serve or Refund,
// must follow.
type Grant struct {
	Method      Method
	PaymentHash string
	ChallengeID string
	// Call is the reserved call; nil for a reusable token, which consumes nothing.
	Call *Call
	// Expires is when a reusable token stops opening the route.
	Expires time.Time
	// PayerID is the account paying with credits.
	PayerID string
	offer   Offer
}

// Reusable reports whether the grant is a reusable token, which no call consumes.
func (g *Grant) Reusable() bool { return g.Method == MethodL402 && !g.Expires.IsZero() }

// Payer names who paid, for keying what the payer may retry: the account for credits, the
// payment hash for a Lightning payment (whose payer may have no account).
func (g *Grant) Payer() string {
	if g.Method == MethodCredits {
		return g.PayerID
	}
	return "payment:" + g.PaymentHash
}

// Verify checks cred for o without consuming anything, so that a request retried with the
// same credential and Idempotency-Key can be answered from its first response before the
// credential is found used. Returns EUNAUTHORIZED (a credential that is not valid for this
// route: forged, altered, expired, or for another route), EPAYMENTREQUIRED (no credential)
// and EUNAVAILABLE.
func (s *Service) Verify(ctx context.Context, o Offer, cred Credential) (*Grant, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	switch {
	case cred.L402 != nil:
		tok, err := s.minter.Verify(ctx, l402.VerifyRequest{Macaroon: cred.L402.Macaroon, Preimage: cred.L402.Preimage, Route: o.Route,
			Account: o.AccountID, Now: now})
		if err != nil {
			return nil, err
		}
		// A token minted reusable opens the route until its expiry, even if the route has since
		// become single-use; any other token pays for one call, whatever caveats it carries.
		g := &Grant{Method: MethodL402, PaymentHash: tok.PaymentHash.String(), offer: o}
		if tok.Reusable {
			g.Expires = tok.Expires
		}
		return g, nil
	case cred.Payment != nil && o.AccountID != "":
		return nil, stipend.Errorf(stipend.EUNAUTHORIZED, "invalid credential")
	case cred.Payment != nil:
		key, err := s.routeKey(ctx, o.Route)
		if err != nil {
			return nil, err
		}
		_, hash, err := l402.VerifyPayment(key, cred.Payment, cred.PaymentPreimage, now)
		if err != nil {
			return nil, err
		}
		return &Grant{Method: MethodPayment, PaymentHash: hash.String(), ChallengeID: cred.Payment.Challenge.ID, offer: o}, nil
	case cred.PayerID != "":
		return &Grant{Method: MethodCredits, PayerID: cred.PayerID, offer: o}, nil
	}
	return nil, stipend.Errorf(stipend.EPAYMENTREQUIRED, "this route is priced: pay one of the offered challenges")
}

// Reserve reserves the call of a verified grant: it claims a single-use payment, or holds the
// price on the payer's balance. A reusable token reserves nothing. Returns EUNAUTHORIZED (the
// invoice was not paid to this node), EPAYMENTREQUIRED (the payment was already used),
// EINSUFFICIENTFUNDS (credits), ENOTFOUND and EUNAVAILABLE.
func (s *Service) Reserve(ctx context.Context, g *Grant) error {
	switch {
	case g.Call != nil || g.Reusable():
		return nil
	case g.Method == MethodCredits:
		c := s.newCall(g.offer, MethodCredits, g.offer.Price)
		c.PayerID = g.PayerID
		if err := s.store.ReserveCall(ctx, c); err != nil {
			return err
		}
		g.Call = c
		return nil
	}
	return s.reserveLightning(ctx, g, g.offer)
}

// reserveLightning claims a single-use Lightning payment for one call. The amount credited is
// what the node received for the invoice, not the route's price now: the price may have
// changed since the challenge, and the ledger must match the node.
func (s *Service) reserveLightning(ctx context.Context, g *Grant, o Offer) error {
	paid, err := s.paidAmount(ctx, g.PaymentHash)
	if err != nil {
		return err
	}
	c := s.newCall(o, g.Method, ledger.Msat(paid))
	c.PaymentHash = g.PaymentHash
	if err := s.store.ReserveCall(ctx, c); err != nil {
		if stipend.ErrorCode(err) == stipend.ECONFLICT {
			return stipend.Errorf(stipend.EPAYMENTREQUIRED, "this payment was already used for a call: pay a new challenge")
		}
		return err
	}
	g.Call = c
	return nil
}

// paidAmount asks the node what it received for an invoice. A valid preimage already proves
// the payment; asking also catches an invoice of another node and gives the true amount.
func (s *Service) paidAmount(ctx context.Context, hash string) (int64, error) {
	if s.cfg.Node == nil {
		return 0, stipend.Errorf(stipend.EUNAVAILABLE, "Lightning payments are not configured")
	}
	inv, err := s.cfg.Node.LookupInvoice(ctx, hash)
	if stipend.ErrorCode(err) == stipend.ENOTFOUND {
		return 0, stipend.Errorf(stipend.EUNAUTHORIZED, "invalid credential")
	}
	if err != nil {
		return 0, err
	}
	if inv.State != lightning.InvoiceSettled || inv.AmountPaidMsat <= 0 {
		return 0, stipend.Errorf(stipend.EUNAUTHORIZED, "invalid credential")
	}
	return inv.AmountPaidMsat, nil
}

func (s *Service) newCall(o Offer, m Method, amount ledger.Amount) *Call {
	now := s.cfg.Now().UTC()
	c := &Call{ID: stipend.NewID("call"), Route: o.Route, Method: m, SellerID: o.SellerID, Price: amount,
		State: CallReserved, LeaseToken: stipend.NewID("lease"), LeaseUntil: now.Add(s.cfg.Lease), CreatedAt: now}
	c.Fee = s.fee(o, amount.Value)
	return c
}

// fee is the platform's part of amount: nothing of a deposit, all of it when no seller is
// named.
func (s *Service) fee(o Offer, amount int64) int64 {
	if o.AccountID != "" {
		return 0
	}
	if o.SellerID == "" {
		return amount
	}
	return ledger.ShareBPS(amount, s.cfg.FeeBPS)
}

// destinations are the credits of serving amount for o: the seller's earnings and the fee, or
// the whole of a deposit to its account.
func (s *Service) destinations(o Offer, asset ledger.Asset, amount, fee int64) []ledger.Entry {
	if o.AccountID != "" {
		return []ledger.Entry{{Address: ledger.AccountAddress(o.AccountID), Asset: asset, Amount: amount}}
	}
	var to []ledger.Entry
	if o.SellerID != "" && amount-fee > 0 {
		to = append(to, ledger.Entry{Address: ledger.AccountAddress(o.SellerID), Asset: asset, Amount: amount - fee})
	}
	if fee > 0 {
		to = append(to, ledger.Entry{Address: ledger.FeesAddress, Asset: asset, Amount: fee})
	}
	return to
}

// Receipt is the proof of a served call, for the Payment-Receipt header.
type Receipt = l402.Receipt

// Serve records the call of g as served and credits its seller. Returns ECONFLICT when the
// call's lease was lost to another request (it must then not be answered as paid), and
// EUNAVAILABLE.
func (s *Service) Serve(ctx context.Context, g *Grant) (*Receipt, error) {
	r := &Receipt{Method: "lightning", Reference: g.PaymentHash, ChallengeID: g.ChallengeID, Status: "success",
		Timestamp: s.cfg.Now().UTC().Format(time.RFC3339)}
	if g.Reusable() {
		if err := s.creditToken(ctx, g); err != nil {
			return nil, err
		}
		return r, nil
	}
	c := g.Call
	if c == nil {
		return nil, stipend.Errorf(stipend.EINTERNAL, "serving a call that was not reserved")
	}
	if _, err := s.store.ServeCall(ctx, c.ID, c.LeaseToken, s.destinations(g.offer, c.Price.Asset, c.Price.Value, c.Fee)); err != nil {
		return nil, err
	}
	if g.Method == MethodCredits {
		r.Method, r.Reference = string(MethodCredits), c.ID
	}
	return r, nil
}

// creditToken credits the seller of a reusable token once, at its first served call.
func (s *Service) creditToken(ctx context.Context, g *Grant) error {
	if s.credited.has(g.PaymentHash) {
		return nil
	}
	paid, err := s.paidAmount(ctx, g.PaymentHash)
	if err != nil {
		return err
	}
	fee := s.fee(g.offer, paid)
	entries := append(s.destinations(g.offer, ledger.BTC, paid, fee),
		ledger.Entry{Address: ledger.ExternalAddress("lightning"), Asset: ledger.BTC, Amount: -paid})
	_, err = s.store.Post(ctx, ledger.NewTransaction{Key: LightningKey(g.PaymentHash), Kind: KindPaidCall,
		Memo: "reusable access to " + clipMemo(g.offer.Route), Metadata: map[string]string{"payment_hash": g.PaymentHash, "route": g.offer.Route},
		Entries: entries})
	if err != nil {
		return err
	}
	s.credited.add(g.PaymentHash)
	return nil
}

// Refund gives back what g reserved. A reusable token consumed nothing. Returns ECONFLICT
// when the call is no longer reserved under g's lease.
func (s *Service) Refund(ctx context.Context, g *Grant) error {
	if g.Call == nil {
		return nil
	}
	_, err := s.store.RefundCall(ctx, g.Call.ID, g.Call.LeaseToken)
	return err
}

// SweepExpired refunds the calls whose server died before serving or refunding them, and
// returns how many it refunded.
func (s *Service) SweepExpired(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.store.RefundExpiredCalls(ctx, s.cfg.Now(), 100)
		total += n
		if err != nil || n < 100 {
			return total, err
		}
	}
}

// RunSweeper calls SweepExpired every interval until ctx ends, logging nothing: errors are
// retried at the next tick, and refunds are visible in the ledger.
func (s *Service) RunSweeper(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.SweepExpired(ctx); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// routeKey is the HMAC key of the Payment challenges of one route, derived from the shared
// server secret, so that a challenge issued for one route does not verify for another.
func (s *Service) routeKey(ctx context.Context, route string) ([]byte, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.paymentKey == nil {
		k, err := s.store.ServerSecret(ctx, paymentKeyName, 32)
		if err != nil {
			return nil, err
		}
		s.paymentKey = k
	}
	return deriveKey(s.paymentKey, "route\x00"+route), nil
}

func clipMemo(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}

// FeeBPS is the platform fee on a call, in basis points of its price.
func (s *Service) FeeBPS() int64 { return s.cfg.FeeBPS }

// Lightning reports whether challenges can offer an invoice.
func (s *Service) Lightning() bool { return s.cfg.Node != nil }
