package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/macaroon.v2"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/payments/l402"
)

// Errors of PayingTransport, matched with errors.Is. None of them ever carries a preimage or
// a macaroon; they name the payment by its payment hash, which is public.
var (
	// ErrPriceTooHigh: the invoice asks for more than MaxPriceMsat (or no maximum was set).
	// Nothing was paid.
	ErrPriceTooHigh = errors.New("the price is above the maximum")
	// ErrNoPaymentMethod: the 402 offers no method this transport can use. Nothing was paid.
	ErrNoPaymentMethod = errors.New("no usable payment method")
	// ErrBadChallenge: the server's invoice or challenge is invalid, expired or inconsistent.
	// Nothing was paid.
	ErrBadChallenge = errors.New("the payment challenge is not acceptable")
	// ErrPaymentFailed: the wallet's payment failed. Nothing was paid.
	ErrPaymentFailed = errors.New("the payment failed")
	// ErrPaymentUnknown: the payment may be in flight. It is kept in the PaymentStore and is
	// tracked, never paid again, when the same request is made again.
	ErrPaymentUnknown = errors.New("the outcome of the payment is not known yet")
	// ErrAlreadyPaid: the server offered an invoice this transport already paid and
	// presented; it is not paid twice.
	ErrAlreadyPaid = errors.New("the invoice was already paid")
	// ErrRetryFailed: the invoice was paid but the request with the credential got no
	// response. The payment is kept and is presented when the same request is made again.
	ErrRetryFailed = errors.New("paid, but the request with the credential failed")
)

// Defaults of PayingTransport.
const (
	// DefaultTrackTimeout bounds how long a payment hidden by a crash is tracked before the
	// request goes on without it.
	DefaultTrackTimeout = 30 * time.Second
	// minFeeCapMsat and feeCapBPS make the default routing fee cap: 1% of the price, at
	// least 10 sat, as the server's payouts do.
	minFeeCapMsat = 10_000
	feeCapBPS     = 100
	// maxReplayBody bounds a request body buffered to be sent again after a payment.
	maxReplayBody = 32 << 20
	// max402Body bounds how much of a 402's body is read.
	max402Body = 64 << 10
	// expiryMargin: an invoice or a token must stay valid at least this long to be used.
	expiryMargin = 5 * time.Second
)

// PayingTransport is an http.RoundTripper that pays for HTTP 402 priced routes (DESIGN.md
// section 6). On a 402 it reads every challenge, chooses a method (Method if set, else L402,
// then Payment, then credits when APIKey may be sent there), checks the invoice amount, read
// from the BOLT11 invoice itself, against MaxPriceMsat, records the payment in Store before
// paying it, pays through Wallet, records the preimage, and sends the request again, once,
// with exactly one Authorization header. The request body is buffered (or taken from
// GetBody) so that it can be sent again, and every other header, Idempotency-Key included,
// is sent unchanged.
//
// A payment whose outcome a crash hid is found in Store by the next request with the same
// method and URL (or by its invoice's payment hash) and tracked, never paid again. A
// reusable L402 token (a 402 saying access "reusable", or a macaroon with an expires caveat)
// is cached per origin and URL path until it expires and sent before any 402; a 402 in
// answer drops it.
//
// It is safe for concurrent use. Two concurrent requests for the same route each pay; a
// payment is never tracked, paid or presented by two requests of one process at once.
type PayingTransport struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Wallet pays invoices; nil allows the credits method only.
	Wallet Wallet
	// MaxPriceMsat is the most one payment may cost, in millisatoshis, fees aside. The
	// Lightning methods need it; credits priced in BTC are checked against it when it is set.
	MaxPriceMsat int64
	// MaxFeeMsat caps the routing fee of a payment; 0 means 1% of the price, at least 10 sat.
	MaxFeeMsat int64
	// Method forces a method: wire.MethodL402, wire.MethodPayment or wire.MethodCredits;
	// "" chooses.
	Method string
	// APIKey is a Stipend API key for the credits method (Authorization: Bearer), which takes
	// the price from the key's balance. It is only ever sent to APIKeyServer.
	APIKey string
	// APIKeyServer is the base URL of the Stipend server APIKey belongs to. Credits are used
	// only for requests to its scheme and host, so that the key never reaches anyone else.
	APIKeyServer string
	// Store records payments and caches tokens; nil keeps them in memory, which recovers
	// nothing after a crash.
	Store *PaymentStore
	// Network, when set, is the only Bitcoin network whose invoices are paid ("mainnet",
	// "regtest", ...); "" accepts any.
	Network string
	// TrackTimeout bounds the tracking of a payment hidden by a crash; 0 means
	// DefaultTrackTimeout.
	TrackTimeout time.Duration
	// Now returns the time; nil means time.Now.
	Now func() time.Time

	once sync.Once
	mem  *PaymentStore

	mu   sync.Mutex
	busy map[string]bool // payment hashes a request of this process is paying or presenting
}

// claims are the payment hashes one request has taken for itself, so that two concurrent
// requests of one process never pay, track or present the same payment at once.
type claims struct {
	t      *PayingTransport
	hashes []string
}

// take claims hash for this request; false when another request holds it.
func (c *claims) take(hash string) bool {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	if c.t.busy[hash] {
		return slices.Contains(c.hashes, hash)
	}
	if c.t.busy == nil {
		c.t.busy = map[string]bool{}
	}
	c.t.busy[hash] = true
	c.hashes = append(c.hashes, hash)
	return true
}

func (c *claims) releaseAll() {
	c.t.mu.Lock()
	defer c.t.mu.Unlock()
	for _, h := range c.hashes {
		delete(c.t.busy, h)
	}
}

var _ http.RoundTripper = (*PayingTransport)(nil)

// Client returns an http.Client that sends its requests through t.
func (t *PayingTransport) Client() *http.Client { return &http.Client{Transport: t} }

// PaymentOutcome says what a PayingTransport did for one request. Pass one to
// WithPaymentOutcome to have it filled in.
type PaymentOutcome struct {
	// Method is how the request was paid: wire.MethodL402, wire.MethodPayment or
	// wire.MethodCredits; "" when nothing was presented.
	Method string
	// PaymentHash is the hash of the invoice paid, for the Lightning methods.
	PaymentHash string
	// AmountMsat is the price: the invoice's amount, or for credits the price the 402
	// named, when it is in BTC.
	AmountMsat int64
	// FeeMsat is the routing fee the wallet reported.
	FeeMsat int64
	// Price is the price the 402's body named, when it had one.
	Price *wire.Money
	// Paid is true when this request made a new payment (or credits were offered).
	Paid bool
	// Reused is true when a cached token or an earlier payment was presented.
	Reused bool
	// Refused is true when the server answered the paid credential with another 402.
	Refused bool
	// Receipt is the server's Payment-Receipt, when it sent one.
	Receipt *l402.Receipt
}

type outcomeKey struct{}

// WithPaymentOutcome returns a context that makes a PayingTransport record in o what it did
// for a request made with the context.
func WithPaymentOutcome(ctx context.Context, o *PaymentOutcome) context.Context {
	return context.WithValue(ctx, outcomeKey{}, o)
}

func (t *PayingTransport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

func (t *PayingTransport) store() *PaymentStore {
	if t.Store != nil {
		return t.Store
	}
	t.once.Do(func() { t.mem = NewMemoryPaymentStore() })
	return t.mem
}

func (t *PayingTransport) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// credential is one Authorization value and what it stands for.
type credential struct {
	authorization string
	method        string
	record        *PaymentRecord // the single-use payment presented, if any
	token         *cachedToken   // the cached token presented, if any
}

// RoundTrip implements http.RoundTripper.
func (t *PayingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	out, _ := ctx.Value(outcomeKey{}).(*PaymentOutcome)
	if out == nil {
		out = &PaymentOutcome{}
	}
	body, err := replayableBody(req)
	if err != nil {
		return nil, err
	}
	store := t.store()
	cl := &claims{t: t}
	defer cl.releaseAll()

	pre, err := t.proactive(ctx, store, req, cl)
	if err != nil {
		return nil, err
	}
	first, err := t.attempt(req, body, pre)
	if err != nil {
		return nil, err
	}
	resp, err := t.base().RoundTrip(first)
	if err != nil {
		if pre != nil && pre.record != nil {
			return nil, fmt.Errorf("%w (payment hash %s): %w", ErrRetryFailed, pre.record.PaymentHash, err)
		}
		return nil, err
	}
	if resp.StatusCode != http.StatusPaymentRequired {
		if pre != nil {
			out.Reused = true
			t.accepted(store, req, pre, resp, out)
		}
		return resp, nil
	}
	if pre != nil {
		// The server no longer takes it: a consumed payment or an expired token.
		if pre.record != nil {
			_ = store.setStatus(pre.record.PaymentHash, RecordRefused)
		}
		if pre.token != nil {
			_ = store.dropToken(pre.token.PaymentHash)
		}
	}
	return t.payAndRetry(ctx, store, req, body, resp, out, cl)
}

// attempt returns a copy of req to send, with a fresh body and cred, when there is one, as
// its only Authorization header.
func (t *PayingTransport) attempt(req *http.Request, body func() (io.ReadCloser, error), cred *credential) (*http.Request, error) {
	r := req.Clone(req.Context())
	if body != nil {
		b, err := body()
		if err != nil {
			return nil, fmt.Errorf("the request body cannot be read again: %w", err)
		}
		r.Body, r.GetBody = b, body
	}
	if cred != nil {
		r.Header.Del("Authorization")
		r.Header.Set("Authorization", cred.authorization)
	}
	return r, nil
}

// replayableBody returns a function giving the request's body afresh each time: the
// request's GetBody, or the body read into memory. The original body is closed, as a
// RoundTripper must.
func replayableBody(req *http.Request) (func() (io.ReadCloser, error), error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	if req.GetBody != nil {
		return req.GetBody, nil
	}
	data, err := io.ReadAll(io.LimitReader(req.Body, maxReplayBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	if len(data) > maxReplayBody {
		return nil, fmt.Errorf("a request body over %d bytes cannot be kept to send again after a payment", maxReplayBody)
	}
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, nil
}

// requestKey is how a stored payment is matched with a later request: its method and URL,
// without fragment or user info.
func requestKey(req *http.Request) (method, u string) {
	c := *req.URL
	c.Fragment, c.RawFragment, c.User = "", "", nil
	return req.Method, c.String()
}

func originOf(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

// proactive finds a credential to send before any 402: a payment made for the same request
// whose outcome a crash hid, or a cached reusable token.
func (t *PayingTransport) proactive(ctx context.Context, store *PaymentStore, req *http.Request, cl *claims) (*credential, error) {
	method, u := requestKey(req)
	records, err := store.Payments()
	if err != nil {
		return nil, err
	}
	for i := range records {
		r := records[i]
		if r.HTTPMethod != method || r.URL != u || (r.Status != RecordPending && r.Status != RecordPaid) || !cl.take(r.PaymentHash) {
			continue
		}
		if r.Status == RecordPending {
			if t.Wallet == nil {
				continue
			}
			wp, err := t.track(ctx, r.PaymentHash)
			if err != nil {
				return nil, fmt.Errorf("%w: tracking the earlier payment %s: %w", ErrPaymentUnknown, r.PaymentHash, err)
			}
			switch wp.State {
			case PaymentSucceeded:
				if wp.Preimage.Hash().String() != r.PaymentHash {
					return nil, fmt.Errorf("%w: the wallet's proof of payment %s does not match its hash", ErrPaymentUnknown, r.PaymentHash)
				}
				r.Status, r.Preimage, r.FeeMsat = RecordPaid, &wp.Preimage, wp.FeeMsat
				if err := store.PutPayment(r); err != nil {
					return nil, err
				}
			case PaymentInFlight:
				return nil, fmt.Errorf("%w: an earlier payment for this request (payment hash %s) is still in flight; nothing more was paid: try again later", ErrPaymentUnknown, r.PaymentHash)
			default:
				// It failed, or was never sent: nothing was paid, and the request goes on.
				if err := store.setStatus(r.PaymentHash, RecordFailed); err != nil {
					return nil, err
				}
				continue
			}
		}
		if r.Preimage == nil {
			continue
		}
		auth, err := authorizationFor(&r)
		if err != nil {
			_ = store.setStatus(r.PaymentHash, RecordFailed)
			continue
		}
		return &credential{authorization: auth, method: r.Method, record: &r}, nil
	}
	tok, err := store.token(originOf(req.URL), req.URL.Path, req.Method, expiryMargin)
	if err != nil || tok == nil {
		return nil, err
	}
	return &credential{authorization: tok.Authorization, method: tok.Method, token: tok}, nil
}

func (t *PayingTransport) track(ctx context.Context, hash string) (*WalletPayment, error) {
	d := t.TrackTimeout
	if d <= 0 {
		d = DefaultTrackTimeout
	}
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return t.Wallet.Track(tctx, hash)
}

// authorizationFor builds the credential of a paid record.
func authorizationFor(r *PaymentRecord) (string, error) {
	switch r.Method {
	case wire.MethodL402:
		mac, err := decodeMacaroon(r.Macaroon)
		if err != nil {
			return "", err
		}
		scheme := r.Scheme
		if scheme == "" {
			scheme = l402.SchemeL402
		}
		return l402.FormatAuthorization(scheme, mac, *r.Preimage)
	case wire.MethodPayment:
		if r.Challenge == nil {
			return "", errors.New("the stored payment has no challenge")
		}
		return l402.FormatPaymentAuthorization(*r.Challenge, *r.Preimage)
	}
	return "", fmt.Errorf("unknown method %q", r.Method)
}

// decodeMacaroon decodes a base64 macaroon as the server sent it, through the l402
// package's challenge parser, which never quotes it in an error.
func decodeMacaroon(b64 string) (*macaroon.Macaroon, error) {
	_, mac, _, err := l402.ParseChallenge(l402.SchemeL402 + ` macaroon="` + b64 + `", invoice="-"`)
	return mac, err
}

// accepted records that the server answered a credential with something other than a 402:
// a single-use payment is used, a reusable one becomes a cached token. After a server error
// (5xx) the payment stays paid, to be presented again by the next request: whether the
// server consumed it is not known, and presenting it again costs nothing.
func (t *PayingTransport) accepted(store *PaymentStore, req *http.Request, cred *credential, resp *http.Response, out *PaymentOutcome) {
	out.Method = cred.method
	if r := cred.record; r != nil {
		out.PaymentHash, out.AmountMsat, out.FeeMsat = r.PaymentHash, r.AmountMsat, r.FeeMsat
		if resp.StatusCode < 500 {
			_ = store.setStatus(r.PaymentHash, RecordUsed)
			if r.Reusable {
				t.cache(store, req, r, cred.authorization)
			}
		}
	}
	if tok := cred.token; tok != nil {
		out.PaymentHash = tok.PaymentHash
	}
	if v := resp.Header.Get(l402.HeaderReceipt); v != "" {
		if rc, err := l402.DecodeReceipt(v); err == nil {
			out.Receipt = &rc
		}
	}
}

// cache keeps a reusable L402 token until its expiry: the earliest expires caveat, or the
// 402's ttl_seconds from the payment.
func (t *PayingTransport) cache(store *PaymentStore, req *http.Request, r *PaymentRecord, auth string) {
	mac, err := decodeMacaroon(r.Macaroon)
	if err != nil {
		return
	}
	exp, httpMethod := caveatLimits(mac)
	if exp.IsZero() {
		exp = r.TokenExpires
	}
	if exp.IsZero() || !t.now().Add(expiryMargin).Before(exp) {
		return
	}
	_ = store.putToken(cachedToken{
		Origin: originOf(req.URL), Path: req.URL.Path, HTTPMethod: httpMethod,
		PaymentHash: r.PaymentHash, Method: r.Method, Authorization: auth, Expires: exp,
	})
}

// caveatLimits reads a macaroon's earliest expires caveat and its method caveat.
func caveatLimits(mac *macaroon.Macaroon) (expires time.Time, method string) {
	for _, c := range mac.Caveats() {
		cv, err := l402.ParseCaveat(string(c.Id))
		if err != nil {
			continue
		}
		switch cv.Condition {
		case l402.CondExpires:
			secs, err := strconv.ParseInt(cv.Value, 10, 64)
			if err != nil {
				continue
			}
			if e := time.Unix(secs, 0).UTC(); expires.IsZero() || e.Before(expires) {
				expires = e
			}
		case l402.CondMethod:
			method = strings.ToUpper(cv.Value)
		}
	}
	return expires, method
}

// paywall is what a 402 offers.
type paywall struct {
	l402Scheme string // L402, or LSAT when only that parsed
	macB64     string
	mac        *macaroon.Macaroon
	l402Inv    string

	payment    *l402.EchoedChallenge
	paymentReq l402.PaymentRequest

	credits bool
	body    *wire.PaymentRequired
	offered []string
}

// readPaywall reads a 402's challenges and body, and closes the body.
func readPaywall(resp *http.Response) *paywall {
	p := &paywall{}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, max402Body))
	resp.Body.Close()
	var body wire.PaymentRequired
	if json.Unmarshal(raw, &body) == nil && body.Status == http.StatusPaymentRequired {
		p.body = &body
	}
	for _, c := range ParseAuthChallenges(resp.Header.Values("WWW-Authenticate")) {
		switch {
		case c.Is(l402.SchemeL402) || c.Is(l402.SchemeLSAT):
			if p.mac != nil && p.l402Scheme == l402.SchemeL402 {
				continue
			}
			b64, inv := c.Params["macaroon"], c.Params["invoice"]
			if b64 == "" || inv == "" {
				continue
			}
			mac, err := decodeMacaroon(b64)
			if err != nil {
				continue
			}
			scheme := l402.SchemeLSAT
			if c.Is(l402.SchemeL402) {
				scheme = l402.SchemeL402
			}
			p.l402Scheme, p.macB64, p.mac, p.l402Inv = scheme, b64, mac, inv
		case c.Is(l402.SchemePayment):
			if p.payment != nil {
				continue
			}
			ch, req, err := ParsePaymentChallenge(c)
			if err != nil {
				continue
			}
			p.payment, p.paymentReq = &ch, req
		case c.Is("Bearer"):
			if slices.Contains(strings.Fields(c.Params["scope"]), wire.MethodCredits) {
				p.credits = true
			}
		}
	}
	if p.body != nil && slices.Contains(p.body.Methods, wire.MethodCredits) {
		p.credits = true
	}
	if p.mac != nil {
		p.offered = append(p.offered, wire.MethodL402)
	}
	if p.payment != nil {
		p.offered = append(p.offered, wire.MethodPayment)
	}
	if p.credits {
		p.offered = append(p.offered, wire.MethodCredits)
	}
	return p
}

// creditsAllowed reports whether the API key may be sent with req: only to its own server.
func (t *PayingTransport) creditsAllowed(req *http.Request) bool {
	if t.APIKey == "" || t.APIKeyServer == "" {
		return false
	}
	su, err := url.Parse(t.APIKeyServer)
	if err != nil || su.Host == "" {
		return false
	}
	return originOf(su) == originOf(req.URL)
}

// choose picks the method to pay with.
func (t *PayingTransport) choose(p *paywall, req *http.Request) (string, error) {
	order := []string{wire.MethodL402, wire.MethodPayment, wire.MethodCredits}
	if t.Method != "" {
		if !slices.Contains(order, t.Method) {
			return "", fmt.Errorf("%w: unknown method %q (l402, payment or credits)", ErrNoPaymentMethod, t.Method)
		}
		order = []string{t.Method}
	}
	var why []string
	for _, m := range order {
		if !slices.Contains(p.offered, m) {
			if t.Method != "" {
				why = append(why, m+" is not offered")
			}
			continue
		}
		switch m {
		case wire.MethodL402, wire.MethodPayment:
			if t.Wallet == nil {
				why = append(why, m+" needs a wallet")
				continue
			}
		case wire.MethodCredits:
			if !t.creditsAllowed(req) {
				why = append(why, "credits need the API key of this server")
				continue
			}
		}
		return m, nil
	}
	offered := "nothing"
	if len(p.offered) > 0 {
		offered = strings.Join(p.offered, ", ")
	}
	msg := fmt.Sprintf("%s: the server offers %s", ErrNoPaymentMethod, offered)
	if len(why) > 0 {
		msg += "; " + strings.Join(why, "; ")
	}
	return "", &payError{msg: msg, kind: ErrNoPaymentMethod}
}

// payError is an error with its own message that matches a sentinel.
type payError struct {
	msg  string
	kind error
}

func (e *payError) Error() string { return e.msg }
func (e *payError) Unwrap() error { return e.kind }

// payAndRetry answers a 402: it pays, and sends the request again with the credential.
func (t *PayingTransport) payAndRetry(ctx context.Context, store *PaymentStore, req *http.Request, body func() (io.ReadCloser, error), resp *http.Response, out *PaymentOutcome, cl *claims) (*http.Response, error) {
	p := readPaywall(resp)
	if p.body != nil {
		price := p.body.Price
		out.Price = &price
	}
	method, err := t.choose(p, req)
	if err != nil {
		return nil, err
	}
	var cred *credential
	if method == wire.MethodCredits {
		if err := t.checkCreditPrice(p); err != nil {
			return nil, err
		}
		cred = &credential{authorization: "Bearer " + t.APIKey, method: method}
		if p.body != nil && isBTC(p.body.Price.Asset) {
			out.AmountMsat = p.body.Price.Amount
		}
	} else {
		cred, err = t.payInvoice(ctx, store, req, method, p, out, cl)
		if err != nil {
			return nil, err
		}
	}
	out.Method, out.Paid = method, true
	var resp2 *http.Response
	retry, err := t.attempt(req, body, cred)
	if err == nil {
		resp2, err = t.base().RoundTrip(retry)
	}
	if err != nil {
		if cred.record != nil {
			return nil, fmt.Errorf("%w (payment hash %s): %w", ErrRetryFailed, cred.record.PaymentHash, err)
		}
		return nil, err
	}
	if resp2.StatusCode == http.StatusPaymentRequired {
		out.Refused = true
		if cred.record != nil {
			_ = store.setStatus(cred.record.PaymentHash, RecordRefused)
		}
		return resp2, nil
	}
	t.accepted(store, req, cred, resp2, out)
	return resp2, nil
}

func isBTC(asset string) bool {
	return strings.EqualFold(asset, "BTC") || strings.EqualFold(asset, "BTC_MSAT")
}

// checkCreditPrice checks the price of a credits call against MaxPriceMsat, when it is set.
func (t *PayingTransport) checkCreditPrice(p *paywall) error {
	if t.MaxPriceMsat <= 0 {
		return nil
	}
	if p.body == nil || p.body.Price.Amount <= 0 {
		return &payError{msg: ErrBadChallenge.Error() + ": the 402 names no price to check against the maximum", kind: ErrBadChallenge}
	}
	if !isBTC(p.body.Price.Asset) {
		return &payError{msg: fmt.Sprintf("%s: the price is in %s, and the maximum is in BTC", ErrPriceTooHigh, p.body.Price.Asset), kind: ErrPriceTooHigh}
	}
	if p.body.Price.Amount > t.MaxPriceMsat {
		return &payError{msg: fmt.Sprintf("%s: the price is %d msat, the maximum %d msat; nothing was paid", ErrPriceTooHigh, p.body.Price.Amount, t.MaxPriceMsat), kind: ErrPriceTooHigh}
	}
	return nil
}

// payInvoice checks the invoice of the chosen Lightning method, records the payment, pays it
// (or finds an earlier payment of the same invoice) and returns the credential.
func (t *PayingTransport) payInvoice(ctx context.Context, store *PaymentStore, req *http.Request, method string, p *paywall, out *PaymentOutcome, cl *claims) (*credential, error) {
	bad := func(format string, args ...any) error {
		return &payError{msg: ErrBadChallenge.Error() + ": " + fmt.Sprintf(format, args...) + "; nothing was paid", kind: ErrBadChallenge}
	}
	invoice := p.l402Inv
	if method == wire.MethodPayment {
		invoice = p.paymentReq.MethodDetails.Invoice
	}
	d, err := decodeAnyNetwork(invoice, t.Network)
	if err != nil {
		return nil, bad("the server's invoice: %s", err.Error())
	}
	now := t.now()
	switch {
	case d.AmountMsat <= 0:
		return nil, bad("the invoice names no amount")
	case t.MaxPriceMsat <= 0:
		return nil, &payError{msg: fmt.Sprintf("%s: the price is %d msat and no maximum price is set; nothing was paid", ErrPriceTooHigh, d.AmountMsat), kind: ErrPriceTooHigh}
	case d.AmountMsat > t.MaxPriceMsat:
		return nil, &payError{msg: fmt.Sprintf("%s: the invoice asks %d msat, the maximum is %d msat; nothing was paid", ErrPriceTooHigh, d.AmountMsat, t.MaxPriceMsat), kind: ErrPriceTooHigh}
	case !now.Add(expiryMargin).Before(d.ExpiresAt):
		return nil, bad("the invoice expired at %s", d.ExpiresAt.Format(time.RFC3339))
	}
	rec := PaymentRecord{
		PaymentHash: d.Hash, Status: RecordPending, Method: method, Invoice: invoice, AmountMsat: d.AmountMsat,
	}
	rec.HTTPMethod, rec.URL = requestKey(req)
	switch method {
	case wire.MethodL402:
		id, err := l402.DecodeIdentifier(p.mac.Id())
		if err != nil || id.PaymentHash.String() != d.Hash {
			return nil, bad("the macaroon is not bound to the invoice's payment hash")
		}
		rec.Scheme, rec.Macaroon = p.l402Scheme, p.macB64
		exp, _ := caveatLimits(p.mac)
		if !exp.IsZero() && !now.Add(expiryMargin).Before(exp) {
			return nil, bad("the macaroon expired at %s", exp.Format(time.RFC3339))
		}
		rec.Reusable = !exp.IsZero() || (p.body != nil && p.body.Access == wire.AccessReusable)
		if exp.IsZero() && p.body != nil && p.body.TTLSeconds > 0 {
			rec.TokenExpires = now.Add(time.Duration(p.body.TTLSeconds) * time.Second).UTC()
		}
	case wire.MethodPayment:
		sats, err := strconv.ParseInt(p.paymentReq.Amount, 10, 64)
		if err != nil || sats <= 0 || sats > (1<<63-1)/1000 || sats*1000 != d.AmountMsat {
			return nil, bad("the Payment request's amount differs from the invoice's")
		}
		if h := p.paymentReq.MethodDetails.PaymentHash; h != "" && !strings.EqualFold(h, d.Hash) {
			return nil, bad("the Payment request's payment hash differs from the invoice's")
		}
		if c := p.paymentReq.Currency; c != "" && !strings.EqualFold(c, l402.PaymentSats) {
			return nil, bad("the Payment request is in %q, not sat", oneLineText(c))
		}
		if p.payment.Expires != "" {
			exp, err := time.Parse(time.RFC3339, p.payment.Expires)
			if err != nil || !now.Add(expiryMargin).Before(exp) {
				return nil, bad("the Payment challenge has expired")
			}
		}
		rec.Challenge = p.payment
	}
	out.PaymentHash, out.AmountMsat = d.Hash, d.AmountMsat

	if !cl.take(d.Hash) {
		return nil, fmt.Errorf("%w: another request of this process is paying the invoice of payment hash %s; nothing more was paid", ErrPaymentUnknown, d.Hash)
	}
	earlier, err := store.Payment(d.Hash)
	if err != nil {
		return nil, err
	}
	if earlier != nil {
		switch earlier.Status {
		case RecordUsed, RecordRefused:
			return nil, &payError{msg: fmt.Sprintf("%s: the server offered again the invoice of payment hash %s, which was paid and presented before; it is not paid twice", ErrAlreadyPaid, d.Hash), kind: ErrAlreadyPaid}
		case RecordFailed:
			return nil, &payError{msg: fmt.Sprintf("%s: an earlier payment of this invoice (payment hash %s) failed; nothing was paid", ErrPaymentFailed, d.Hash), kind: ErrPaymentFailed}
		case RecordPaid:
			if earlier.Preimage != nil {
				rec.Status, rec.Preimage, rec.FeeMsat, rec.CreatedAt = RecordPaid, earlier.Preimage, earlier.FeeMsat, earlier.CreatedAt
			}
		case RecordPending:
			// A crash hid its outcome: track it, and pay only if it was never sent.
			rec.CreatedAt = earlier.CreatedAt
			wp, err := t.track(ctx, d.Hash)
			if err != nil {
				return nil, fmt.Errorf("%w: tracking the earlier payment %s: %w", ErrPaymentUnknown, d.Hash, err)
			}
			switch wp.State {
			case PaymentSucceeded:
				rec.Status, rec.Preimage, rec.FeeMsat = RecordPaid, &wp.Preimage, wp.FeeMsat
			case PaymentInFlight:
				return nil, fmt.Errorf("%w: the earlier payment of this invoice (payment hash %s) is still in flight; nothing more was paid: try again later", ErrPaymentUnknown, d.Hash)
			case PaymentFailed:
				_ = store.setStatus(d.Hash, RecordFailed)
				return nil, &payError{msg: fmt.Sprintf("%s: the earlier payment of this invoice (payment hash %s) failed; nothing was paid", ErrPaymentFailed, d.Hash), kind: ErrPaymentFailed}
			}
		}
	}

	if rec.Status == RecordPending {
		// The payment is recorded before it is sent, so that a crash during it leaves a
		// record to track.
		if err := store.PutPayment(rec); err != nil {
			return nil, fmt.Errorf("recording the payment before paying (nothing was paid): %w", err)
		}
		fee := t.MaxFeeMsat
		if fee <= 0 {
			fee = max(d.AmountMsat*feeCapBPS/10_000, minFeeCapMsat)
		}
		wp, err := t.Wallet.Pay(ctx, invoice, fee)
		if err != nil {
			return nil, fmt.Errorf("%w: paying the invoice of payment hash %s: %w; it will be tracked, not paid again, when the request is made again", ErrPaymentUnknown, d.Hash, err)
		}
		switch wp.State {
		case PaymentSucceeded:
			if wp.Preimage.Hash().String() != d.Hash {
				return nil, fmt.Errorf("%w: the wallet's proof of payment does not match payment hash %s", ErrPaymentUnknown, d.Hash)
			}
			rec.Status, rec.Preimage, rec.FeeMsat = RecordPaid, &wp.Preimage, wp.FeeMsat
		case PaymentFailed:
			_ = store.setStatus(d.Hash, RecordFailed)
			reason := oneLineText(wp.Failure)
			if reason == "" {
				reason = "no reason given"
			}
			return nil, &payError{msg: fmt.Sprintf("%s: payment hash %s: %s; nothing was paid", ErrPaymentFailed, d.Hash, reason), kind: ErrPaymentFailed}
		default:
			return nil, fmt.Errorf("%w: the payment of payment hash %s is still in flight; it will be tracked, not paid again, when the request is made again", ErrPaymentUnknown, d.Hash)
		}
	} else {
		out.Reused = true
	}
	if err := store.PutPayment(rec); err != nil {
		return nil, fmt.Errorf("paid (payment hash %s), but recording the proof of payment failed: %w", d.Hash, err)
	}
	out.FeeMsat = rec.FeeMsat
	auth, err := authorizationFor(&rec)
	if err != nil {
		return nil, err
	}
	return &credential{authorization: auth, method: method, record: &rec}, nil
}

func oneLineText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
