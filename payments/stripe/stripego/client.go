// Package stripego implements stripe.Gateway and stripe.Verifier over stripe-go v76: card
// funding by PaymentIntent and Checkout, Connect Express accounts and Transfers, manual
// capture, refunds, balance transactions, and the verification of webhook deliveries.
//
// Amounts go to Stripe only in USD or EUR cents, checked here before anything is sent.
// Every error is a *stipend.Error with a fixed, client-safe message; Stripe's own words, with
// any key or secret in them redacted, stay in the wrapped error for the logs.
package stripego

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
	"time"

	stripeapi "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/stripe"
)

// DefaultTolerance is how far a webhook's timestamp may be from now, in the past or the
// future, when Config.Tolerance is zero: Stripe's own default, five minutes.
const DefaultTolerance = 5 * time.Minute

// Config says how to reach Stripe.
type Config struct {
	// APIKey is the platform's secret key (sk_live_…, sk_test_… or a restricted rk_… key).
	APIKey string
	// URL is the base URL of the API: "" for Stripe's own, api.stripe.com; stripe-mock's URL
	// in tests.
	URL string
	// WebhookSecret is the signing secret of the webhook endpoint (whsec_…). Without it Verify
	// accepts nothing.
	WebhookSecret string
	// ConnectWebhookSecret is the signing secret of the Connect webhook endpoint, which alone
	// receives connected accounts' events (account.updated); optional.
	ConnectWebhookSecret string
	// Tolerance is how far a webhook's timestamp may be from now; 0 means DefaultTolerance.
	Tolerance time.Duration
}

// Client is a stripe.Gateway and a stripe.Verifier backed by stripe-go.
type Client struct {
	api          *client.API
	secrets      []string // what redact removes from Stripe's messages
	whsec        string
	connectWhsec string
	tolerance    time.Duration
}

var (
	_ stripe.Gateway  = (*Client)(nil)
	_ stripe.Verifier = (*Client)(nil)
)

// New returns a client. It does not call Stripe. Returns EINVALID for a missing key, a URL
// that is not http(s) or a negative tolerance.
func New(cfg Config) (*Client, error) {
	if cfg.APIKey == "" {
		return nil, stipend.Errorf(stipend.EINVALID, "the Stripe API key is missing")
	}
	if cfg.Tolerance < 0 {
		return nil, stipend.Errorf(stipend.EINVALID, "the webhook tolerance must not be negative")
	}
	if cfg.Tolerance == 0 {
		cfg.Tolerance = DefaultTolerance
	}
	backendCfg := &stripeapi.BackendConfig{
		LeveledLogger:   &stripeapi.LeveledLogger{Level: stripeapi.LevelNull},
		EnableTelemetry: stripeapi.Bool(false),
	}
	if cfg.URL != "" {
		u, err := url.Parse(cfg.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, stipend.Errorf(stipend.EINVALID, "the Stripe API URL must be an http or https URL")
		}
		backendCfg.URL = stripeapi.String(strings.TrimRight(cfg.URL, "/"))
	}
	backend := stripeapi.GetBackendWithConfig(stripeapi.APIBackend, backendCfg)
	c := &Client{
		api:          client.New(cfg.APIKey, &stripeapi.Backends{API: backend, Connect: backend, Uploads: backend}),
		secrets:      []string{cfg.APIKey},
		whsec:        cfg.WebhookSecret,
		connectWhsec: cfg.ConnectWebhookSecret,
		tolerance:    cfg.Tolerance,
	}
	for _, sec := range []string{cfg.WebhookSecret, cfg.ConnectWebhookSecret} {
		if sec != "" {
			c.secrets = append(c.secrets, sec)
		}
	}
	return c, nil
}

// currency returns Stripe's currency code for an amount that may be sent: a positive number
// of cents of USD or EUR.
func currency(a ledger.Amount) (string, error) {
	var cur string
	switch a.Asset {
	case ledger.USD:
		cur = "usd"
	case ledger.EUR:
		cur = "eur"
	default:
		return "", stipend.Errorf(stipend.EINVALID, "Stripe takes only USD and EUR amounts")
	}
	if a.Value <= 0 {
		return "", stipend.Errorf(stipend.EINVALID, "an amount sent to Stripe must be positive")
	}
	return cur, nil
}

// amount converts an amount Stripe returned.
func amount(value int64, cur stripeapi.Currency) (ledger.Amount, error) {
	switch strings.ToLower(string(cur)) {
	case "usd":
		return ledger.Cents(value, ledger.USD), nil
	case "eur":
		return ledger.Cents(value, ledger.EUR), nil
	}
	return ledger.Amount{}, stipend.Internal(fmt.Errorf("stripe currency %q", clip(string(cur))), "Stripe returned an amount in an unsupported currency")
}

// idPattern is what Stripe's object ids look like. stripe-go puts ids into request paths
// unescaped, so anything else could reach another endpoint.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,255}$`)

// checkID refuses a malformed id with code (ENOTFOUND for the id of an object to read or act
// on, EINVALID for one named in a new object).
func checkID(id, what, code string) error {
	if !idPattern.MatchString(id) {
		if code == stipend.ENOTFOUND {
			return stipend.Errorf(code, "no such Stripe %s", what)
		}
		return stipend.Errorf(code, "the Stripe %s id is malformed", what)
	}
	return nil
}

// checkKey refuses an idempotency key Stripe would refuse.
func checkKey(key string) error {
	if len(key) > 255 {
		return stipend.Errorf(stipend.EINVALID, "an idempotency key must be at most 255 characters")
	}
	return nil
}

func checkURL(raw, what string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return stipend.Errorf(stipend.EINVALID, "the %s must be an absolute http(s) URL", what)
	}
	return nil
}

// params fills the fields every request has: its context and its idempotency key.
func params(p *stripeapi.Params, ctx context.Context, key string) {
	p.Context = ctx
	if key != "" {
		p.SetIdempotencyKey(key)
	}
}

func unix(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

func copyMeta(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return stripeapi.String(s)
}

func paymentIntent(pi *stripeapi.PaymentIntent) (*stripe.PaymentIntent, error) {
	amt, err := amount(pi.Amount, pi.Currency)
	if err != nil {
		return nil, err
	}
	return &stripe.PaymentIntent{
		ID:               pi.ID,
		Amount:           amt,
		AmountReceived:   pi.AmountReceived,
		AmountCapturable: pi.AmountCapturable,
		Status:           string(pi.Status),
		ClientSecret:     pi.ClientSecret,
		ManualCapture:    pi.CaptureMethod == stripeapi.PaymentIntentCaptureMethodManual,
		Metadata:         copyMeta(pi.Metadata),
		Created:          unix(pi.Created),
	}, nil
}

// CreatePaymentIntent implements stripe.Gateway.
func (c *Client) CreatePaymentIntent(ctx context.Context, req stripe.IntentRequest) (*stripe.PaymentIntent, error) {
	cur, err := currency(req.Amount)
	if err != nil {
		return nil, err
	}
	if err := checkKey(req.IdempotencyKey); err != nil {
		return nil, err
	}
	method := stripeapi.PaymentIntentCaptureMethodAutomatic
	if req.ManualCapture {
		method = stripeapi.PaymentIntentCaptureMethodManual
	}
	p := &stripeapi.PaymentIntentParams{
		Amount:        stripeapi.Int64(req.Amount.Value),
		Currency:      stripeapi.String(cur),
		CaptureMethod: stripeapi.String(string(method)),
		Description:   optional(req.Description),
		Metadata:      copyMeta(req.Metadata),
	}
	params(&p.Params, ctx, req.IdempotencyKey)
	pi, err := c.api.PaymentIntents.New(p)
	if err != nil {
		return nil, c.mapError(err, "creating a PaymentIntent")
	}
	return paymentIntent(pi)
}

// PaymentIntent implements stripe.Gateway.
func (c *Client) PaymentIntent(ctx context.Context, id string) (*stripe.PaymentIntent, error) {
	if err := checkID(id, "PaymentIntent", stipend.ENOTFOUND); err != nil {
		return nil, err
	}
	p := &stripeapi.PaymentIntentParams{}
	params(&p.Params, ctx, "")
	pi, err := c.api.PaymentIntents.Get(id, p)
	if err != nil {
		return nil, c.mapError(err, "retrieving a PaymentIntent")
	}
	return paymentIntent(pi)
}

// CapturePaymentIntent implements stripe.Gateway.
func (c *Client) CapturePaymentIntent(ctx context.Context, id string, amt int64, idempotencyKey string) (*stripe.PaymentIntent, error) {
	if err := checkID(id, "PaymentIntent", stipend.ENOTFOUND); err != nil {
		return nil, err
	}
	if amt < 0 {
		return nil, stipend.Errorf(stipend.EINVALID, "the amount to capture must not be negative")
	}
	if err := checkKey(idempotencyKey); err != nil {
		return nil, err
	}
	p := &stripeapi.PaymentIntentCaptureParams{}
	if amt > 0 {
		p.AmountToCapture = stripeapi.Int64(amt)
	}
	params(&p.Params, ctx, idempotencyKey)
	pi, err := c.api.PaymentIntents.Capture(id, p)
	if err != nil {
		return nil, c.mapError(err, "capturing a PaymentIntent")
	}
	return paymentIntent(pi)
}

// CancelPaymentIntent implements stripe.Gateway.
func (c *Client) CancelPaymentIntent(ctx context.Context, id, idempotencyKey string) (*stripe.PaymentIntent, error) {
	if err := checkID(id, "PaymentIntent", stipend.ENOTFOUND); err != nil {
		return nil, err
	}
	if err := checkKey(idempotencyKey); err != nil {
		return nil, err
	}
	p := &stripeapi.PaymentIntentCancelParams{}
	params(&p.Params, ctx, idempotencyKey)
	pi, err := c.api.PaymentIntents.Cancel(id, p)
	if err != nil {
		return nil, c.mapError(err, "cancelling a PaymentIntent")
	}
	return paymentIntent(pi)
}

// CreateCheckoutSession implements stripe.Gateway. The session's metadata is also set on the
// PaymentIntent it creates, so that the payment_intent.* events carry it.
func (c *Client) CreateCheckoutSession(ctx context.Context, req stripe.CheckoutRequest) (*stripe.CheckoutSession, error) {
	cur, err := currency(req.Amount)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.Description) == "" {
		return nil, stipend.Errorf(stipend.EINVALID, "a Checkout session needs a description to show the payer")
	}
	if err := checkURL(req.SuccessURL, "success URL"); err != nil {
		return nil, err
	}
	if err := checkURL(req.CancelURL, "cancel URL"); err != nil {
		return nil, err
	}
	if err := checkKey(req.IdempotencyKey); err != nil {
		return nil, err
	}
	p := &stripeapi.CheckoutSessionParams{
		Mode:       stripeapi.String(string(stripeapi.CheckoutSessionModePayment)),
		SuccessURL: stripeapi.String(req.SuccessURL),
		CancelURL:  stripeapi.String(req.CancelURL),
		LineItems: []*stripeapi.CheckoutSessionLineItemParams{{
			Quantity: stripeapi.Int64(1),
			PriceData: &stripeapi.CheckoutSessionLineItemPriceDataParams{
				Currency:    stripeapi.String(cur),
				UnitAmount:  stripeapi.Int64(req.Amount.Value),
				ProductData: &stripeapi.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripeapi.String(req.Description)},
			},
		}},
		Metadata: copyMeta(req.Metadata),
		PaymentIntentData: &stripeapi.CheckoutSessionPaymentIntentDataParams{
			Description: stripeapi.String(req.Description),
			Metadata:    copyMeta(req.Metadata),
		},
	}
	params(&p.Params, ctx, req.IdempotencyKey)
	s, err := c.api.CheckoutSessions.New(p)
	if err != nil {
		return nil, c.mapError(err, "creating a Checkout session")
	}
	out := &stripe.CheckoutSession{ID: s.ID, URL: s.URL}
	if s.PaymentIntent != nil {
		out.PaymentIntent = s.PaymentIntent.ID
	}
	return out, nil
}

var countryPattern = regexp.MustCompile(`^[A-Z]{2}$`)

func account(a *stripeapi.Account) *stripe.Account {
	return &stripe.Account{
		ID:               a.ID,
		Country:          a.Country,
		Email:            a.Email,
		PayoutsEnabled:   a.PayoutsEnabled,
		ChargesEnabled:   a.ChargesEnabled,
		DetailsSubmitted: a.DetailsSubmitted,
	}
}

// CreateAccount implements stripe.Gateway: an Express account with the transfers capability
// requested, which is what receiving Transfers needs.
func (c *Client) CreateAccount(ctx context.Context, req stripe.AccountRequest) (*stripe.Account, error) {
	if req.Country != "" && !countryPattern.MatchString(req.Country) {
		return nil, stipend.Errorf(stipend.EINVALID, "the country must be an ISO 3166-1 alpha-2 code such as DE or US")
	}
	if err := checkKey(req.IdempotencyKey); err != nil {
		return nil, err
	}
	p := &stripeapi.AccountParams{
		Type:    stripeapi.String(string(stripeapi.AccountTypeExpress)),
		Country: optional(req.Country),
		Email:   optional(req.Email),
		Capabilities: &stripeapi.AccountCapabilitiesParams{
			Transfers: &stripeapi.AccountCapabilitiesTransfersParams{Requested: stripeapi.Bool(true)},
		},
		Metadata: copyMeta(req.Metadata),
	}
	params(&p.Params, ctx, req.IdempotencyKey)
	a, err := c.api.Accounts.New(p)
	if err != nil {
		return nil, c.mapError(err, "creating a Connect account")
	}
	return account(a), nil
}

// Account implements stripe.Gateway.
func (c *Client) Account(ctx context.Context, id string) (*stripe.Account, error) {
	if err := checkID(id, "account", stipend.ENOTFOUND); err != nil {
		return nil, err
	}
	p := &stripeapi.AccountParams{}
	params(&p.Params, ctx, "")
	a, err := c.api.Accounts.GetByID(id, p)
	if err != nil {
		return nil, c.mapError(err, "retrieving a Connect account")
	}
	return account(a), nil
}

// AccountLink implements stripe.Gateway: an account_onboarding link.
func (c *Client) AccountLink(ctx context.Context, req stripe.AccountLinkRequest) (string, error) {
	if err := checkID(req.Account, "account", stipend.EINVALID); err != nil {
		return "", err
	}
	if err := checkURL(req.RefreshURL, "refresh URL"); err != nil {
		return "", err
	}
	if err := checkURL(req.ReturnURL, "return URL"); err != nil {
		return "", err
	}
	p := &stripeapi.AccountLinkParams{
		Account:    stripeapi.String(req.Account),
		RefreshURL: stripeapi.String(req.RefreshURL),
		ReturnURL:  stripeapi.String(req.ReturnURL),
		Type:       stripeapi.String(string(stripeapi.AccountLinkTypeAccountOnboarding)),
	}
	params(&p.Params, ctx, "")
	l, err := c.api.AccountLinks.New(p)
	if err != nil {
		return "", c.mapError(err, "creating an account link")
	}
	return l.URL, nil
}

func transfer(t *stripeapi.Transfer) (*stripe.Transfer, error) {
	amt, err := amount(t.Amount, t.Currency)
	if err != nil {
		return nil, err
	}
	out := &stripe.Transfer{
		ID:       t.ID,
		Amount:   amt,
		Reversed: t.Reversed,
		Metadata: copyMeta(t.Metadata),
		Created:  unix(t.Created),
		Group:    t.TransferGroup,
	}
	if t.Destination != nil {
		out.Destination = t.Destination.ID
	}
	return out, nil
}

// CreateTransfer implements stripe.Gateway. The idempotency key is required: it is what makes
// a retried payout return the first transfer instead of sending a second.
func (c *Client) CreateTransfer(ctx context.Context, req stripe.TransferRequest) (*stripe.Transfer, error) {
	cur, err := currency(req.Amount)
	if err != nil {
		return nil, err
	}
	if err := checkID(req.Destination, "account", stipend.EINVALID); err != nil {
		return nil, err
	}
	if req.IdempotencyKey == "" {
		return nil, stipend.Errorf(stipend.EINVALID, "a transfer needs an idempotency key")
	}
	if err := checkKey(req.IdempotencyKey); err != nil {
		return nil, err
	}
	p := &stripeapi.TransferParams{
		Amount:        stripeapi.Int64(req.Amount.Value),
		Currency:      stripeapi.String(cur),
		Destination:   stripeapi.String(req.Destination),
		Description:   optional(req.Description),
		Metadata:      copyMeta(req.Metadata),
		TransferGroup: optional(req.Group),
	}
	params(&p.Params, ctx, req.IdempotencyKey)
	t, err := c.api.Transfers.New(p)
	if err != nil {
		return nil, c.mapError(err, "creating a transfer")
	}
	return transfer(t)
}

// TransfersInGroup implements stripe.Gateway. Stripe filters by group; the group is checked
// again here, so that a server that ignores the filter (stripe-mock answers with fixtures)
// cannot make another payout's transfer look like this one's.
func (c *Client) TransfersInGroup(ctx context.Context, group string) ([]stripe.Transfer, error) {
	if err := checkKey(group); err != nil {
		return nil, err
	}
	p := &stripeapi.TransferListParams{TransferGroup: stripeapi.String(group)}
	p.Context = ctx
	it := c.api.Transfers.List(p)
	var out []stripe.Transfer
	for it.Next() {
		t := it.Transfer()
		if t.TransferGroup != group {
			continue
		}
		tr, err := transfer(t)
		if err != nil {
			return nil, err
		}
		out = append(out, *tr)
	}
	if err := it.Err(); err != nil {
		return nil, c.mapError(err, "listing transfers")
	}
	return out, nil
}

// Transfer implements stripe.Gateway.
func (c *Client) Transfer(ctx context.Context, id string) (*stripe.Transfer, error) {
	if err := checkID(id, "transfer", stipend.ENOTFOUND); err != nil {
		return nil, err
	}
	p := &stripeapi.TransferParams{}
	params(&p.Params, ctx, "")
	t, err := c.api.Transfers.Get(id, p)
	if err != nil {
		return nil, c.mapError(err, "retrieving a transfer")
	}
	return transfer(t)
}

// CreateRefund implements stripe.Gateway.
func (c *Client) CreateRefund(ctx context.Context, req stripe.RefundRequest) (*stripe.Refund, error) {
	if err := checkID(req.PaymentIntent, "PaymentIntent", stipend.EINVALID); err != nil {
		return nil, err
	}
	if req.Amount < 0 {
		return nil, stipend.Errorf(stipend.EINVALID, "a refund amount must not be negative")
	}
	if err := checkKey(req.IdempotencyKey); err != nil {
		return nil, err
	}
	p := &stripeapi.RefundParams{
		PaymentIntent: stripeapi.String(req.PaymentIntent),
		Metadata:      copyMeta(req.Metadata),
	}
	if req.Amount > 0 {
		p.Amount = stripeapi.Int64(req.Amount)
	}
	params(&p.Params, ctx, req.IdempotencyKey)
	r, err := c.api.Refunds.New(p)
	if err != nil {
		return nil, c.mapError(err, "creating a refund")
	}
	amt, err := amount(r.Amount, r.Currency)
	if err != nil {
		return nil, err
	}
	out := &stripe.Refund{ID: r.ID, Amount: amt, Status: string(r.Status)}
	if r.PaymentIntent != nil {
		out.PaymentIntent = r.PaymentIntent.ID
	}
	return out, nil
}

// BalanceTransactions implements stripe.Gateway. Stripe filters by creation time in whole
// seconds; the bounds are rounded up so that the range stays [from, to). A zero from or to
// leaves that side open. Every page is read.
func (c *Client) BalanceTransactions(ctx context.Context, from, to time.Time) ([]stripe.BalanceTransaction, error) {
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return nil, stipend.Errorf(stipend.EINVALID, "the end of the range is before its start")
	}
	rng := &stripeapi.RangeQueryParams{}
	if !from.IsZero() {
		rng.GreaterThanOrEqual = ceilUnix(from)
	}
	if !to.IsZero() {
		rng.LesserThan = ceilUnix(to)
	}
	p := &stripeapi.BalanceTransactionListParams{CreatedRange: rng}
	p.Context = ctx
	p.Limit = stripeapi.Int64(100)
	it := c.api.BalanceTransactions.List(p)
	var out []stripe.BalanceTransaction
	for it.Next() {
		bt := it.BalanceTransaction()
		amt, err := amount(bt.Amount, bt.Currency)
		if err != nil {
			return nil, err
		}
		t := stripe.BalanceTransaction{
			ID:      bt.ID,
			Type:    string(bt.Type),
			Amount:  amt,
			Fee:     bt.Fee,
			Net:     bt.Net,
			Created: unix(bt.Created),
		}
		if bt.Source != nil {
			t.Source = bt.Source.ID
		}
		out = append(out, t)
	}
	if err := it.Err(); err != nil {
		return nil, c.mapError(err, "listing balance transactions")
	}
	return out, nil
}

// ceilUnix is t in Unix seconds, rounded up.
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 && s < math.MaxInt64 {
		s++
	}
	return s
}

// clip shortens text from Stripe before it goes into an error.
func clip(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
