package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/payments/l402"
	"github.com/stipend/stipend/payments/paywall"
)

// pricer computes what one request of a priced route costs. It may refuse the request before
// anything is offered (ENOTFOUND for an endpoint that does not exist).
type pricer func(c echo.Context) (paywall.Offer, error)

// priced is the middleware of a priced route (DESIGN.md section 6). A request without a valid
// credential gets one 402 that offers every accepted method. A request with one is verified;
// a POST then goes through the Idempotency-Key machinery under the payer's name, so a retry
// with the same credential and key gets the first response; the call is reserved (a
// single-use payment is claimed, credits are held), the handler runs with its response held
// back, and the call is served (the seller credited, a Payment-Receipt added) when the handler
// succeeded or refunded when it did not. A call is charged only for a response below 400.
func (s *Server) priced(price pricer, movesMoney bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		serve := func(c echo.Context) error {
			g := c.Get(grantKey).(*paywall.Grant)
			offer := c.Get(offerKey).(paywall.Offer)
			ctx := c.Request().Context()
			if err := s.paywall.Reserve(ctx, g); err != nil {
				return s.payFailed(c, offer, err)
			}
			return s.serveHeld(c, next, g)
		}
		// A route that moves money requires an Idempotency-Key; any other priced route takes
		// one when it is sent, so that a payer can retry a POST safely.
		retryable := s.idempotent(serve)
		return func(c echo.Context) error {
			if s.paywall == nil {
				return stipend.Errorf(stipend.EUNAVAILABLE, "paid routes are not configured on this server")
			}
			offer, err := price(c)
			if err != nil {
				return err
			}
			cred, err := s.credentialOf(c)
			if err != nil {
				if stipend.ErrorCode(err) == stipend.EINVALID {
					return s.paymentRequired(c, offer, stipend.ErrorMessage(err))
				}
				return err
			}
			g, err := s.paywall.Verify(c.Request().Context(), offer, cred)
			if err != nil {
				return s.payFailed(c, offer, err)
			}
			c.Set(grantKey, g)
			c.Set(offerKey, offer)
			c.Set(idempotencyOwnerKey, g.Payer())
			if movesMoney || c.Request().Header.Get(HeaderIdempotencyKey) != "" {
				return retryable(c)
			}
			return serve(c)
		}
	}
}

const (
	grantKey = "stipend.paywall_grant"
	offerKey = "stipend.paywall_offer"
)

// payFailed answers a credential that did not pay for the call. The payer is asked to pay
// again (402 with a fresh challenge) when what they presented does not pay, and gets the
// error as it is otherwise (a node or database that is down).
func (s *Server) payFailed(c echo.Context, offer paywall.Offer, err error) error {
	switch stipend.ErrorCode(err) {
	case stipend.EUNAUTHORIZED:
		return s.paymentRequired(c, offer, "the credential is not valid for this route: pay the new challenge")
	case stipend.EPAYMENTREQUIRED:
		return s.paymentRequired(c, offer, stipend.ErrorMessage(err))
	case stipend.EINSUFFICIENTFUNDS:
		return s.paymentRequired(c, offer, "your balance does not cover the price: fund it, or pay the invoice")
	}
	return err
}

// credentialOf reads the request's credential: L402 (or LSAT), Payment, or an API key whose
// balance pays (credits). A malformed value is EINVALID; a bad API key is EUNAUTHORIZED, and
// a key without the transfers scope EFORBIDDEN, as on any other route.
func (s *Server) credentialOf(c echo.Context) (paywall.Credential, error) {
	var cred paywall.Credential
	h := c.Request().Header
	values := h.Values(echo.HeaderAuthorization)
	if len(values) == 0 {
		return cred, nil
	}
	first := strings.TrimSpace(values[0])
	switch {
	case l402.HasL402Scheme(first):
		l, err := l402.FromHeader(h)
		if err != nil {
			return cred, err
		}
		cred.L402 = l
	case l402.HasPaymentScheme(first):
		if len(values) > 1 {
			return cred, stipend.Errorf(stipend.EINVALID, "send exactly one credential")
		}
		p, pre, err := l402.ParsePaymentAuthorization(first)
		if err != nil {
			return cred, err
		}
		cred.Payment, cred.PaymentPreimage = p, pre
	default:
		scheme, token, ok := strings.Cut(first, " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || len(values) > 1 {
			return cred, stipend.Errorf(stipend.EINVALID, "send one credential: L402, Payment or Bearer")
		}
		p, err := s.accounts.Authenticate(c.Request().Context(), token)
		if err != nil {
			return cred, err
		}
		if err := accounts.Require(p, accounts.ScopeTransfers); err != nil {
			return cred, err
		}
		c.Set(principalKey, p)
		cred.PayerID = p.Account.ID
	}
	return cred, nil
}

// paymentRequired writes the 402 of offer: an invoice offered as L402/LSAT and as a Payment
// charge, and credits. Every challenge costs an invoice, so their issue is rate-limited per
// client. When the node cannot make an invoice the 402 still offers credits.
func (s *Server) paymentRequired(c echo.Context, offer paywall.Offer, detail string) error {
	if wait, ok := s.challenges.allow(s.challengeClient(c)); !ok {
		c.Response().Header().Set("Retry-After", wait)
		return stipend.Errorf(stipend.ERATELIMITED, "too many payment challenges from this client: retry later")
	}
	ch, err := s.paywall.Challenge(c.Request().Context(), offer)
	if stipend.ErrorCode(err) == stipend.EUNAVAILABLE {
		s.log.Warn("issuing a payment challenge: the Lightning node is unavailable; offering credits only", "error", err)
		ch, err = &paywall.Challenge{Offer: offer}, nil
	}
	if err != nil {
		return err
	}
	h := c.Response().Header()
	body := wire.PaymentRequired{
		Problem: wire.Problem{Type: problemBase + stipend.EPAYMENTREQUIRED, Title: titleOf[stipend.EPAYMENTREQUIRED],
			Status: http.StatusPaymentRequired, Detail: detail, Instance: c.Request().URL.Path, Code: stipend.EPAYMENTREQUIRED,
			RequestID: h.Get(echo.HeaderXRequestID)},
		Price:  toMoney(offer.Price.Value, offer.Price.Asset),
		Access: wire.AccessSingleUse,
	}
	if offer.Reusable() {
		body.Access, body.TTLSeconds = wire.AccessReusable, int64(offer.TTL/time.Second)
	}
	if ch.Macaroon != nil {
		values, err := l402.Challenges(ch.Macaroon, ch.Invoice)
		if err != nil {
			return err
		}
		for _, v := range values {
			h.Add(echo.HeaderWWWAuthenticate, v)
		}
		body.Methods = append(body.Methods, wire.MethodL402)
		body.Invoice, body.PaymentHash, body.ExpiresAt = ch.Invoice, ch.PaymentHash.String(), ch.InvoiceExpires.UTC()
	}
	if ch.Payment != nil {
		v, err := ch.Payment.Header()
		if err != nil {
			return err
		}
		h.Add(echo.HeaderWWWAuthenticate, v)
		body.Methods = append(body.Methods, wire.MethodPayment)
	}
	h.Add(echo.HeaderWWWAuthenticate, `Bearer realm="`+s.paywall.Realm()+`", scope="credits"`)
	body.Methods = append(body.Methods, wire.MethodCredits)
	h.Set("Cache-Control", "no-store")
	b, err := json.Marshal(body)
	if err != nil {
		return stipend.Internal(err, "encoding a 402")
	}
	return c.Blob(http.StatusPaymentRequired, "application/problem+json", b)
}

// serveHeld runs the handler with its response held back, then serves or refunds the call and
// only then sends the response: a Payment-Receipt can be added, and a response is never sent
// as paid for a call whose payment could not be recorded.
func (s *Server) serveHeld(c echo.Context, next echo.HandlerFunc, g *paywall.Grant) error {
	// Once the handler has run, its call is recorded as served or refunded even if the client
	// hangs up: a call served but left reserved would be refunded by the sweeper, and its
	// credential would pay again.
	ctx := context.WithoutCancel(c.Request().Context())
	orig := c.Response().Writer
	held := &heldResponse{header: orig.Header().Clone(), status: http.StatusOK}
	c.Response().Writer = held
	s.runHeld(c, next, g, orig)
	c.Response().Writer = orig
	if held.status < 400 {
		receipt, err := s.paywall.Serve(ctx, g)
		if err != nil {
			// The handler's work is done but its payment could not be recorded: the call is
			// left reserved, and the sweeper refunds it when its lease ends. Answering 5xx tells
			// the payer the call may be retried with the same credential then.
			s.log.Error("recording a served call", "route", g.Method, "error", err)
			return s.writeDirect(orig, c, stipend.Errorf(stipend.EUNAVAILABLE, "the call could not be recorded as paid: retry later with the same credential"))
		}
		held.header.Set(l402.HeaderReceipt, l402.EncodeReceipt(*receipt))
		held.header.Set("Cache-Control", "private")
	} else if err := s.paywall.Refund(ctx, g); err != nil {
		s.log.Error("refunding a call that failed", "error", err)
	}
	for k := range orig.Header() {
		if _, ok := held.header[k]; !ok {
			orig.Header().Del(k)
		}
	}
	for k, v := range held.header {
		orig.Header()[k] = v
	}
	orig.WriteHeader(held.status)
	_, err := orig.Write(held.body.Bytes())
	return err
}

// runHeld runs the handler of a paid call. A handler that panics has not served the call: the
// response goes back to the connection, uncommitted, so that the recover middleware's 500
// reaches the payer (rather than nothing, read as an empty 200), and the call is refunded now
// rather than when its lease ends.
func (s *Server) runHeld(c echo.Context, next echo.HandlerFunc, g *paywall.Grant, orig http.ResponseWriter) {
	defer func() {
		if p := recover(); p != nil {
			c.Response().Writer = orig
			c.Response().Committed = false
			if err := s.paywall.Refund(context.WithoutCancel(c.Request().Context()), g); err != nil {
				s.log.Error("refunding a call whose handler panicked", "error", err)
			}
			panic(p)
		}
	}()
	if err := next(c); err != nil {
		c.Error(err)
	}
}

// writeDirect writes err as problem JSON to w, bypassing echo's committed response.
func (s *Server) writeDirect(w http.ResponseWriter, c echo.Context, err error) error {
	held := &heldResponse{header: w.Header().Clone(), status: http.StatusOK}
	c.Response().Writer = held
	c.Response().Committed = false
	s.handleError(err, c)
	c.Response().Writer = w
	for k, v := range held.header {
		w.Header()[k] = v
	}
	w.WriteHeader(held.status)
	_, werr := w.Write(held.body.Bytes())
	return werr
}

// heldResponse keeps a handler's response in memory until the call is served or refunded.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header         { return h.header }
func (h *heldResponse) WriteHeader(status int)      { h.status = status }
func (h *heldResponse) Write(b []byte) (int, error) { return h.body.Write(b) }

// challengeClient names the client whose challenges are counted: its API key's account when
// it sent one, else its address.
func (s *Server) challengeClient(c echo.Context) string {
	if p := principal(c); p != nil {
		return "account:" + p.Account.ID
	}
	return "ip:" + clientNetwork(c.RealIP())
}

// clientNetwork is what one client is, by address: an IPv4 address, or an IPv6 /64, which one
// subscriber usually holds whole.
func clientNetwork(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// challengeLimiter is a token bucket per client. The map is dropped whole when it grows past
// its bound, which at worst forgives some clients their recent challenges.
type challengeLimiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	clients map[string]*rate.Limiter
}

const maxLimitedClients = 100_000

func newChallengeLimiter(perMinute float64, burst int) *challengeLimiter {
	return &challengeLimiter{every: rate.Limit(perMinute / 60), burst: burst, clients: map[string]*rate.Limiter{}}
}

// allow takes a challenge from client's bucket, or returns the seconds to wait.
func (l *challengeLimiter) allow(client string) (string, bool) {
	if l == nil || l.burst <= 0 {
		return "", true
	}
	l.mu.Lock()
	lim, ok := l.clients[client]
	if !ok {
		if len(l.clients) >= maxLimitedClients {
			clear(l.clients)
		}
		lim = rate.NewLimiter(l.every, l.burst)
		l.clients[client] = lim
	}
	l.mu.Unlock()
	r := lim.Reserve()
	d := r.Delay()
	if d == 0 {
		return "", true
	}
	r.Cancel()
	return strconv.FormatInt(int64(d/time.Second)+1, 10), false
}
