package stripe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/url"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/payments/ledger"
)

// Card funding states.
const (
	FundingPending   = "pending"
	FundingSucceeded = "succeeded"
	FundingFailed    = "failed"
	FundingCanceled  = "canceled"
)

// KindCardFunding is the ledger kind of a balance credited by card.
const KindCardFunding = "card_funding"

// Funding is a funding of a balance by card.
type Funding struct {
	ID            string
	AccountID     string
	RequestKey    string
	Amount        ledger.Amount
	PaymentIntent string
	Status        string
	AmountPaid    int64
	Refunded      int64 // what its refunds that have not failed add up to
	LedgerTx      string
	CreatedAt     time.Time
	SettledAt     *time.Time
	// ClientSecret is the intent's, for the payer's browser to confirm the payment with
	// Stripe.js; CheckoutURL the hosted page of a Checkout funding. Both are read from
	// Stripe, never stored.
	ClientSecret string
	CheckoutURL  string
}

// Checkout asks for a funding paid on Stripe's hosted Checkout page rather than with
// Stripe.js: the payer is sent back to SuccessURL or CancelURL.
type Checkout struct {
	SuccessURL, CancelURL string
}

// Connected is a Stipend account's Stripe Connect account.
type Connected struct {
	AccountID        string
	StripeAccount    string
	PayoutsEnabled   bool
	DetailsSubmitted bool
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Effect is what one webhook event changes. At most one field is set; none for an event
// that changes nothing but is recorded as seen.
type Effect struct {
	// FundingSucceeded credits a card funding with what was received.
	FundingSucceeded *FundingPaid
	// FundingFailed marks a pending card funding failed (a later success still credits it).
	FundingFailed string
	// FundingCanceled marks a pending or failed card funding canceled.
	FundingCanceled string
	// AccountUpdated records a Connect account's state.
	AccountUpdated *Connected
	// EscrowAuthorized opens a question whose card escrow Stripe has authorised.
	EscrowAuthorized *EscrowPayment
	// EscrowCaptured records that the escrow of an answered question was captured, and
	// credits it.
	EscrowCaptured *EscrowPayment
	// EscrowCanceled records that a question's card escrow was released.
	EscrowCanceled *EscrowPayment
	// RefundUpdated records what Stripe says of a card refund.
	RefundUpdated *RefundOutcome
}

// EscrowPayment is what an event says of the PaymentIntent that escrows a question.
type EscrowPayment struct {
	QuestionID    string
	PaymentIntent string
	// Amount is what is authorised (capturable) for EscrowAuthorized and what was received
	// for EscrowCaptured.
	Amount ledger.Amount
	// CaptureBy is the latest the authorisation may be captured (see CaptureBy).
	CaptureBy time.Time
	// At is when the event was handled, on the service's clock.
	At time.Time
}

// FundingPaid is the success of a card funding's PaymentIntent.
type FundingPaid struct {
	FundingID     string
	PaymentIntent string
	Amount        ledger.Amount // received
}

// Store keeps card fundings and their refunds, Connect accounts and the webhook events
// applied.
type Store interface {
	RefundStore
	// CreateCardFunding stores f as pending, or returns the funding already stored under its
	// request key with created false. Returns ENOTFOUND (no such account).
	CreateCardFunding(ctx context.Context, f *Funding) (stored *Funding, created bool, err error)
	// SetCardFundingIntent records the PaymentIntent of a funding. Returns ENOTFOUND.
	SetCardFundingIntent(ctx context.Context, id, intent string) error
	// CardFunding returns one funding. Returns ENOTFOUND.
	CardFunding(ctx context.Context, id string) (*Funding, error)
	// ConnectedAccount returns an account's Connect account. Returns ENOTFOUND.
	ConnectedAccount(ctx context.Context, accountID string) (*Connected, error)
	// SaveConnectedAccount stores c, or returns the Connect account the Stipend account
	// already has. Returns ENOTFOUND (no such account).
	SaveConnectedAccount(ctx context.Context, c *Connected) (*Connected, error)
	// ApplyStripeEvent records the event's id and applies eff in one transaction, and reports
	// whether it did: an id seen before applies nothing. A funding is credited once, whatever
	// the order and number of its events. Returns ENOTFOUND (an effect on a funding that does
	// not exist is recorded and ignored, not an error) and EINVALID.
	ApplyStripeEvent(ctx context.Context, e *Event, eff Effect) (bool, error)
}

// Options tune a Service.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Country is the default country of new Connect accounts.
	Country string
	// ReturnURL and RefreshURL are where Stripe's onboarding sends a payee back.
	ReturnURL, RefreshURL string
}

// Service is Stipend's use of Stripe: card fundings, Connect onboarding and webhook events.
type Service struct {
	store    Store
	accounts *accounts.Service
	gw       Gateway
	opts     Options
}

// NewService returns a Service. gw may be nil: Stripe is then not configured, and every
// method that needs it returns EUNAVAILABLE.
func NewService(store Store, a *accounts.Service, gw Gateway, o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Country == "" {
		o.Country = "US"
	}
	return &Service{store: store, accounts: a, gw: gw, opts: o}
}

// Configured reports whether Stripe is set up.
func (s *Service) Configured() bool { return s.gw != nil }

func (s *Service) gateway() (Gateway, error) {
	if s.gw == nil {
		return nil, stipend.Errorf(stipend.EUNAVAILABLE, "card payments are not configured on this server")
	}
	return s.gw, nil
}

// fiat returns EINVALID unless amount is a positive amount of a currency Stripe takes here.
func fiat(amount ledger.Amount) error {
	if amount.Asset != ledger.USD && amount.Asset != ledger.EUR {
		return stipend.Errorf(stipend.EINVALID, "asset: cards pay USD or EUR")
	}
	if err := amount.CheckPositive("amount"); err != nil {
		return err
	}
	// Stripe's smallest charge is 50 cents (USD) or 50 cents (EUR); its largest 999,999.99.
	if amount.Value < 50 || amount.Value > 99_999_999 {
		return stipend.Errorf(stipend.EINVALID, "amount: from 0.50 to 999,999.99")
	}
	return nil
}

// requestKey derives a funding's request key from the caller and their idempotency key.
func requestKey(actorID, idempotencyKey string) string {
	sum := sha256.Sum256([]byte(actorID + "\x00" + idempotencyKey))
	return "card:" + hex.EncodeToString(sum[:16])
}

// FundByCard starts a funding of accountID (the caller's when empty) by card: the funding is
// stored first, then its PaymentIntent is created under an idempotency key derived from the
// funding, so a retry after a crash finds the same intent. The balance is credited when
// Stripe reports the payment succeeded. A request retried with the same idempotency key
// returns the first funding.
//
// Returns EFORBIDDEN, EINVALID, EIDEMPOTENCYMISMATCH (the key was used for another amount),
// ENOTFOUND and EUNAVAILABLE.
func (s *Service) FundByCard(ctx context.Context, actor *accounts.Principal, accountID string, amount ledger.Amount, checkout *Checkout, idempotencyKey string) (*Funding, error) {
	if err := accounts.Require(actor, accounts.ScopeRead); err != nil {
		return nil, err
	}
	if accountID == "" {
		accountID = actor.Account.ID
	}
	// Anyone who may see an account may fund it: money only goes in.
	if err := s.accounts.Authorize(ctx, actor, accountID, accounts.Read); err != nil {
		return nil, err
	}
	if err := fiat(amount); err != nil {
		return nil, err
	}
	if checkout != nil && (!webURL(checkout.SuccessURL) || !webURL(checkout.CancelURL)) {
		return nil, stipend.Errorf(stipend.EINVALID, "success_url and cancel_url: http(s) addresses for Checkout to send the payer back to")
	}
	gw, err := s.gateway()
	if err != nil {
		return nil, err
	}
	f, created, err := s.store.CreateCardFunding(ctx, &Funding{ID: stipend.NewID("cf"), AccountID: accountID,
		RequestKey: requestKey(actor.Account.ID, idempotencyKey), Amount: amount, Status: FundingPending, CreatedAt: s.opts.Now().UTC()})
	if err != nil {
		return nil, err
	}
	if !created && (f.AccountID != accountID || f.Amount != amount) {
		return nil, stipend.Errorf(stipend.EIDEMPOTENCYMISMATCH, "this Idempotency-Key was already used for a different funding")
	}
	meta := map[string]string{MetaFunding: f.ID, MetaAccount: accountID}
	if checkout != nil {
		// The session makes its PaymentIntent when the payer pays; the intent's events carry
		// the funding's id in its metadata, which is how they find the funding.
		cs, err := gw.CreateCheckoutSession(ctx, CheckoutRequest{Amount: amount, Description: "Stipend balance " + accountID,
			SuccessURL: checkout.SuccessURL, CancelURL: checkout.CancelURL, Metadata: meta, IdempotencyKey: "checkout:" + f.ID})
		if err != nil {
			return nil, err
		}
		if f.PaymentIntent == "" && cs.PaymentIntent != "" {
			if err := s.store.SetCardFundingIntent(ctx, f.ID, cs.PaymentIntent); err != nil {
				return nil, err
			}
			f.PaymentIntent = cs.PaymentIntent
		}
		f.CheckoutURL = cs.URL
		return f, nil
	}
	// Created now or by a request that died before its intent was recorded: the intent's own
	// idempotency key makes creating it again return the same one.
	pi, err := gw.CreatePaymentIntent(ctx, IntentRequest{Amount: amount, Description: "Stipend balance " + accountID,
		Metadata: meta, IdempotencyKey: "funding:" + f.ID})
	if err != nil {
		return nil, err
	}
	if f.PaymentIntent == "" {
		if err := s.store.SetCardFundingIntent(ctx, f.ID, pi.ID); err != nil {
			return nil, err
		}
		f.PaymentIntent = pi.ID
	}
	f.ClientSecret = pi.ClientSecret
	return f, nil
}

// CardFunding returns a funding the caller may see. Returns ENOTFOUND and EFORBIDDEN.
func (s *Service) CardFunding(ctx context.Context, actor *accounts.Principal, id string) (*Funding, error) {
	f, err := s.store.CardFunding(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.accounts.Authorize(ctx, actor, f.AccountID, accounts.Read); err != nil {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no card funding %s", id)
	}
	return f, nil
}

// Onboard gives the caller's account (or one they own) a Stripe Connect account, once, and
// returns it with the link where its owner gives Stripe their details. Payouts in USD and EUR
// go to it once Stripe enables them.
//
// Returns EFORBIDDEN, EINVALID and EUNAVAILABLE.
func (s *Service) Onboard(ctx context.Context, actor *accounts.Principal, accountID, country, email string) (*Connected, string, error) {
	if err := accounts.Require(actor, accounts.ScopePayouts); err != nil {
		return nil, "", err
	}
	if accountID == "" {
		accountID = actor.Account.ID
	}
	if err := s.accounts.Authorize(ctx, actor, accountID, accounts.Spend); err != nil {
		return nil, "", err
	}
	gw, err := s.gateway()
	if err != nil {
		return nil, "", err
	}
	if country == "" {
		country = s.opts.Country
	}
	if len(country) != 2 {
		return nil, "", stipend.Errorf(stipend.EINVALID, "country: a two-letter ISO 3166 code such as US or DE")
	}
	c, err := s.store.ConnectedAccount(ctx, accountID)
	if stipend.ErrorCode(err) == stipend.ENOTFOUND {
		// The idempotency key is the Stipend account's: two concurrent onboardings create one
		// Connect account at Stripe, and the store keeps the first.
		a, cerr := gw.CreateAccount(ctx, AccountRequest{Country: country, Email: email,
			Metadata: map[string]string{"stipend_account": accountID}, IdempotencyKey: "connect:" + accountID})
		if cerr != nil {
			return nil, "", cerr
		}
		now := s.opts.Now().UTC()
		c, err = s.store.SaveConnectedAccount(ctx, &Connected{AccountID: accountID, StripeAccount: a.ID, PayoutsEnabled: a.PayoutsEnabled,
			DetailsSubmitted: a.DetailsSubmitted, CreatedAt: now, UpdatedAt: now})
	}
	if err != nil {
		return nil, "", err
	}
	link, err := gw.AccountLink(ctx, AccountLinkRequest{Account: c.StripeAccount, RefreshURL: s.opts.RefreshURL, ReturnURL: s.opts.ReturnURL})
	if err != nil {
		return nil, "", err
	}
	return c, link, nil
}

// Connected returns the Connect account of an account the caller may read.
// Returns ENOTFOUND and EFORBIDDEN.
func (s *Service) Connected(ctx context.Context, actor *accounts.Principal, accountID string) (*Connected, error) {
	if accountID == "" {
		accountID = actor.Account.ID
	}
	if err := s.accounts.Authorize(ctx, actor, accountID, accounts.Read); err != nil {
		return nil, err
	}
	return s.store.ConnectedAccount(ctx, accountID)
}

// intentObject is what Stipend reads of a PaymentIntent in an event.
type intentObject struct {
	ID               string            `json:"id"`
	Amount           int64             `json:"amount"`
	AmountReceived   int64             `json:"amount_received"`
	AmountCapturable int64             `json:"amount_capturable"`
	Currency         string            `json:"currency"`
	Created          int64             `json:"created"`
	Metadata         map[string]string `json:"metadata"`
}

// accountObject is what Stipend reads of a Connect account in an event.
type accountObject struct {
	ID               string            `json:"id"`
	PayoutsEnabled   bool              `json:"payouts_enabled"`
	DetailsSubmitted bool              `json:"details_submitted"`
	Metadata         map[string]string `json:"metadata"`
}

// HandleEvent applies a verified webhook event once: an event id seen before changes
// nothing, whatever the order of deliveries. It reports whether the event was applied now.
// Returns EINVALID for an event whose object cannot be read.
func (s *Service) HandleEvent(ctx context.Context, e *Event) (bool, error) {
	var eff Effect
	switch e.Type {
	case "payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
		"payment_intent.amount_capturable_updated":
		var pi intentObject
		if err := json.Unmarshal(e.Object, &pi); err != nil {
			return false, stipend.Errorf(stipend.EINVALID, "event %s: the PaymentIntent does not decode", e.ID)
		}
		if e.Account != "" {
			// An intent of a connected account is never a payment to the platform.
			break
		}
		if id := pi.Metadata[MetaQuestion]; id != "" {
			var err error
			if eff, err = s.escrowEffect(e, &pi, id); err != nil {
				return false, err
			}
			break
		}
		fundingID := pi.Metadata[MetaFunding]
		if fundingID == "" {
			break // not an intent of Stipend's
		}
		switch e.Type {
		case "payment_intent.succeeded":
			asset, err := assetOf(pi.Currency)
			if err != nil {
				return false, err
			}
			eff.FundingSucceeded = &FundingPaid{FundingID: fundingID, PaymentIntent: pi.ID, Amount: ledger.Amount{Value: pi.AmountReceived, Asset: asset}}
		case "payment_intent.payment_failed":
			eff.FundingFailed = fundingID
		case "payment_intent.canceled":
			eff.FundingCanceled = fundingID
		}
	case "charge.refund.updated", "refund.updated", "refund.created", "refund.failed":
		// A refund's status changes after Stripe took it: pending refunds succeed or fail.
		var rf refundObject
		if err := json.Unmarshal(e.Object, &rf); err != nil {
			return false, stipend.Errorf(stipend.EINVALID, "event %s: the refund does not decode", e.ID)
		}
		if id := rf.Metadata[MetaRefund]; id != "" && e.Account == "" && rf.Status != "" {
			eff.RefundUpdated = &RefundOutcome{RefundID: id, StripeRefund: rf.ID, Status: rf.Status}
		}
	case "account.updated":
		// Connect accounts' events come to a Connect endpoint, whose secret the verifier also
		// knows; the state is applied only if it is newer than the one recorded.
		var a accountObject
		if err := json.Unmarshal(e.Object, &a); err != nil {
			return false, stipend.Errorf(stipend.EINVALID, "event %s: the account does not decode", e.ID)
		}
		eff.AccountUpdated = &Connected{StripeAccount: a.ID, PayoutsEnabled: a.PayoutsEnabled, DetailsSubmitted: a.DetailsSubmitted,
			UpdatedAt: s.opts.Now().UTC()}
	}
	applied, err := s.store.ApplyStripeEvent(ctx, e, eff)
	if err != nil {
		return false, err
	}
	if applied {
		s.opts.Logger.Info("stripe event applied", "event", e.ID, "type", e.Type)
	}
	return applied, nil
}

// escrowEffect is the effect of an event of the PaymentIntent that escrows question id: its
// authorisation opens the question, its success records the capture, its cancellation the
// release. A failed attempt to pay changes nothing: the asker may try another card until the
// question's time to pay runs out.
func (s *Service) escrowEffect(e *Event, pi *intentObject, id string) (Effect, error) {
	var eff Effect
	asset, err := assetOf(pi.Currency)
	if err != nil {
		return eff, err
	}
	p := &EscrowPayment{QuestionID: id, PaymentIntent: pi.ID, At: s.opts.Now().UTC()}
	switch e.Type {
	case "payment_intent.amount_capturable_updated":
		if pi.AmountCapturable <= 0 || pi.Created <= 0 {
			return eff, nil // nothing authorised (a partial capture's leftover released)
		}
		p.Amount = ledger.Amount{Value: pi.AmountCapturable, Asset: asset}
		p.CaptureBy = CaptureBy(time.Unix(pi.Created, 0).UTC())
		eff.EscrowAuthorized = p
	case "payment_intent.succeeded":
		p.Amount = ledger.Amount{Value: pi.AmountReceived, Asset: asset}
		eff.EscrowCaptured = p
	case "payment_intent.canceled":
		eff.EscrowCanceled = p
	}
	return eff, nil
}

// assetOf maps Stripe's currency code to Stipend's asset. Returns EINVALID.
func assetOf(currency string) (ledger.Asset, error) {
	switch currency {
	case "usd":
		return ledger.USD, nil
	case "eur":
		return ledger.EUR, nil
	}
	return "", stipend.Errorf(stipend.EINVALID, "currency %q is not one Stipend keeps", currency)
}

func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && len(s) <= 2048
}
