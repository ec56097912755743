package payout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning"
)

// Job kinds of the payout engine.
const (
	JobSend    = "payout.send"
	JobSweep   = "payout.sweep"
	JobRecover = "payout.recover"
)

// SendJob is the payload of a JobSend job.
type SendJob struct {
	PayoutID string `json:"payout_id"`
}

// FeePolicy sets the fee cap of payouts that name none: FeeBPS of the amount, but at least
// MinFee. Both are in the asset's minor unit (msat for Lightning).
type FeePolicy struct {
	FeeBPS int64
	MinFee int64
}

// DefaultFeePolicy allows 1 % of the amount, and at least 10 sat, for routing.
var DefaultFeePolicy = FeePolicy{FeeBPS: 100, MinFee: 10_000}

// Cap returns the fee cap for an amount.
func (f FeePolicy) Cap(amount int64) int64 {
	c := amount / 10_000 * f.FeeBPS
	c += amount % 10_000 * f.FeeBPS / 10_000
	return max(c, f.MinFee)
}

// Kicker wakes the job runner, so that a payout just requested is sent at once.
type Kicker interface{ Kick() }

// Options configure a Service.
type Options struct {
	Fees FeePolicy
	// Connected returns the Stripe Connect account of a Stipend account and whether Stripe
	// enabled its payouts (ENOTFOUND when it has none); nil when Stripe is not configured.
	Connected     func(ctx context.Context, accountID string) (string, bool, error)
	SweepInterval time.Duration // how often sweeps are looked for; default 30 s
	Kicker        Kicker
	Logger        *slog.Logger
	Now           func() time.Time
}

// Service requests, follows and sweeps payouts.
type Service struct {
	store    Store
	accounts *accounts.Service
	rails    map[string]Rail
	opts     Options
}

// NewService returns a Service paying over rails.
func NewService(store Store, acc *accounts.Service, rails []Rail, opts Options) *Service {
	if opts.Fees == (FeePolicy{}) {
		opts.Fees = DefaultFeePolicy
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{store: store, accounts: acc, rails: map[string]Rail{}, opts: opts}
	for _, r := range rails {
		s.rails[r.Name()] = r
	}
	return s
}

// Request is a payout asked for by an account's owner.
type Request struct {
	AccountID   string // the account paid from; "" for the caller's own
	Destination string // a BOLT11 invoice, a Lightning Address or an LNURL-pay link
	Amount      ledger.Amount
	MaxFee      *int64 // the fee cap; nil for the policy's
}

// rail picks the rail for an asset: Lightning for BTC, Stripe for USD and EUR. Returns
// EINVALID and EUNAVAILABLE.
func (s *Service) rail(asset ledger.Asset) (Rail, error) {
	name, what := RailLightning, "Lightning"
	switch asset {
	case ledger.BTC:
	case ledger.USD, ledger.EUR:
		name, what = RailStripe, "Stripe"
	default:
		return nil, stipend.Errorf(stipend.EINVALID, "asset: %s cannot be paid out", asset)
	}
	r, ok := s.rails[name]
	if !ok {
		return nil, stipend.Errorf(stipend.EUNAVAILABLE, "%s payouts are not configured on this server", what)
	}
	return r, nil
}

// feeless is a rail that charges the payee nothing, so no fee is reserved with its payouts.
type feeless interface{ Feeless() bool }

// feeCap is what a payout of amount over rail reserves for the rail's fee.
func (s *Service) feeCap(rail Rail, amount int64) int64 {
	if f, ok := rail.(feeless); ok && f.Feeless() {
		return 0
	}
	return s.opts.Fees.Cap(amount)
}

// connected resolves the Stripe destination of an account: its Connect account, which must be
// ready for payouts. Returns EINVALID and EUNAVAILABLE.
func (s *Service) connected(ctx context.Context, accountID string) (string, error) {
	if s.opts.Connected == nil {
		return "", stipend.Errorf(stipend.EUNAVAILABLE, "Stripe payouts are not configured on this server")
	}
	acct, enabled, err := s.opts.Connected(ctx, accountID)
	if stipend.ErrorCode(err) == stipend.ENOTFOUND {
		return "", stipend.Errorf(stipend.EINVALID, "destination: the account has no Stripe account; connect one with POST /v1/stripe/connect")
	}
	if err != nil {
		return "", err
	}
	if !enabled {
		return "", stipend.Errorf(stipend.EINVALID, "destination: Stripe has not enabled payouts to the account's Stripe account yet; finish its onboarding")
	}
	return acct, nil
}

// RequestKey derives a payout's request key from the caller and their idempotency key, so
// that a retried request finds the payout it made.
func RequestKey(actorID, idempotencyKey string) string {
	sum := sha256.Sum256([]byte(actorID + "\x00" + idempotencyKey))
	return "request:" + hex.EncodeToString(sum[:16])
}

// matches reports whether a payout answers the same request.
func (p *Payout) matches(req Request) bool {
	return p.AccountID == req.AccountID && p.Destination == req.Destination &&
		(req.Amount.Value == 0 || p.Amount == req.Amount) && (req.MaxFee == nil || p.FeeCap == *req.MaxFee)
}

// Request asks for a payout: the destination is checked and prepared (an invoice resolved)
// before anything is reserved, the amount and fee cap are reserved, and the payout is queued
// for sending. A request retried with the same idempotency key returns the first payout.
//
// Returns EFORBIDDEN, EINVALID (destination, amount, fee), EINSUFFICIENTFUNDS, ECONFLICT (the
// invoice is already being paid out), EIDEMPOTENCYMISMATCH and EUNAVAILABLE.
func (s *Service) Request(ctx context.Context, actor *accounts.Principal, req Request, idempotencyKey string) (*Payout, error) {
	if err := accounts.Require(actor, accounts.ScopePayouts); err != nil {
		return nil, err
	}
	if req.AccountID == "" {
		req.AccountID = actor.Account.ID
	}
	if err := s.accounts.Authorize(ctx, actor, req.AccountID, accounts.Spend); err != nil {
		return nil, err
	}
	key := RequestKey(actor.Account.ID, idempotencyKey)
	if p, err := s.store.PayoutByKey(ctx, key); err == nil {
		// A retry: the payout exists, with the invoice (or Connect account) that was resolved
		// for it then.
		if p.Rail == RailStripe && (req.Destination == "" || req.Destination == RailStripe) {
			req.Destination = p.Destination
		}
		if !p.matches(req) {
			return nil, stipend.Errorf(stipend.EIDEMPOTENCYMISMATCH, "this idempotency key was used for another payout")
		}
		return p, nil
	} else if stipend.ErrorCode(err) != stipend.ENOTFOUND {
		return nil, err
	}
	if req.Amount.Value < 0 || (req.Amount.Asset != "" && !req.Amount.Asset.Valid()) {
		return nil, stipend.Errorf(stipend.EINVALID, "amount: must be a positive amount of a known asset")
	}
	if req.Amount.Asset == "" {
		req.Amount.Asset = ledger.BTC
	}
	rail, err := s.rail(req.Amount.Asset)
	if err != nil {
		return nil, err
	}
	if rail.Name() == RailStripe {
		// Fiat goes to the account's own Connect account, never to one the caller names: a
		// key that may pay out must not be able to send the balance elsewhere.
		own, err := s.connected(ctx, req.AccountID)
		if err != nil {
			return nil, err
		}
		if req.Destination != "" && req.Destination != RailStripe && req.Destination != own {
			return nil, stipend.Errorf(stipend.EINVALID, "destination: USD and EUR are paid to the account's own Stripe account only; leave it out")
		}
		req.Destination = own
	}
	if err := stipend.CheckText("destination", req.Destination, 7200, false); err != nil {
		return nil, err
	}
	prep, err := rail.Prepare(ctx, req.Destination, req.Amount)
	if err != nil {
		return nil, err
	}
	amount := ledger.Amount{Value: prep.AmountMsat, Asset: req.Amount.Asset}
	if err := amount.CheckPositive("amount"); err != nil {
		return nil, err
	}
	feeCap := s.feeCap(rail, amount.Value)
	if req.MaxFee != nil && feeCap == 0 && *req.MaxFee != 0 {
		return nil, stipend.Errorf(stipend.EINVALID, "max_fee: %s payouts carry no fee", rail.Name())
	}
	if req.MaxFee != nil {
		if *req.MaxFee < 0 || *req.MaxFee > amount.Value {
			return nil, stipend.Errorf(stipend.EINVALID, "max_fee: must be between 0 and the amount")
		}
		feeCap = *req.MaxFee
	}
	now := s.opts.Now().UTC()
	p := &Payout{
		ID: stipend.NewID("po"), RequestKey: key, AccountID: req.AccountID, Rail: rail.Name(), Amount: amount, FeeCap: feeCap,
		Destination: req.Destination, Invoice: prep.Invoice, PaymentHash: prep.PaymentHash,
		Status: Requested, Source: SourceRequest, CreatedAt: now, UpdatedAt: now,
	}
	created, err := s.store.CreatePayout(ctx, p)
	if err != nil {
		return nil, err
	}
	if created.ID != p.ID && !created.matches(req) {
		return nil, stipend.Errorf(stipend.EIDEMPOTENCYMISMATCH, "this idempotency key was used for another payout")
	}
	s.kick()
	return created, nil
}

func (s *Service) kick() {
	if s.opts.Kicker != nil {
		s.opts.Kicker.Kick()
	}
}

// Get returns a payout of an account the actor may read. A payout of anyone else's is
// reported as missing. Returns ENOTFOUND.
func (s *Service) Get(ctx context.Context, actor *accounts.Principal, id string) (*Payout, error) {
	p, err := s.store.Payout(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.accounts.Authorize(ctx, actor, p.AccountID, accounts.Read); err != nil {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no payout %s", id)
	}
	return p, nil
}

// List returns the payouts of an account the actor may read, newest first.
// Returns EFORBIDDEN and EINVALID.
func (s *Service) List(ctx context.Context, actor *accounts.Principal, accountID, cursor string, limit int) ([]Payout, string, error) {
	if accountID == "" {
		accountID = actor.Account.ID
	}
	if err := s.accounts.Authorize(ctx, actor, accountID, accounts.Read); err != nil {
		return nil, "", err
	}
	return s.store.Payouts(ctx, accountID, cursor, limit)
}

// Cancel cancels a payout that is not yet in flight; its reservation returns to the
// account. Returns ENOTFOUND, EFORBIDDEN and ECONFLICT (already in flight or final).
func (s *Service) Cancel(ctx context.Context, actor *accounts.Principal, id string) (*Payout, error) {
	if err := accounts.Require(actor, accounts.ScopePayouts); err != nil {
		return nil, err
	}
	p, err := s.Get(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if err := s.accounts.Authorize(ctx, actor, p.AccountID, accounts.Spend); err != nil {
		return nil, err
	}
	return s.store.Cancel(ctx, id)
}

// SetPreference sets how an account wants an asset paid out: RailKeep to keep it as a
// balance, or RailLightning to a Lightning Address whenever the available balance reaches
// minimum. Returns EFORBIDDEN and EINVALID.
func (s *Service) SetPreference(ctx context.Context, actor *accounts.Principal, p Preference) (*Preference, error) {
	if err := accounts.Require(actor, accounts.ScopePayouts); err != nil {
		return nil, err
	}
	if p.AccountID == "" {
		p.AccountID = actor.Account.ID
	}
	if err := s.accounts.Authorize(ctx, actor, p.AccountID, accounts.Spend); err != nil {
		return nil, err
	}
	if !p.Asset.Valid() {
		return nil, stipend.Errorf(stipend.EINVALID, "asset: use one of BTC, USD, EUR")
	}
	switch p.Rail {
	case RailKeep:
		p.Destination, p.Minimum = "", 0
	case RailLightning:
		if p.Asset != ledger.BTC {
			return nil, stipend.Errorf(stipend.EINVALID, "rail: Lightning pays BTC only")
		}
		if _, err := s.rail(p.Asset); err != nil {
			return nil, err
		}
		if !isAddress(p.Destination) {
			return nil, stipend.Errorf(stipend.EINVALID, "destination: automatic Lightning payouts need a Lightning Address (user@domain) or LNURL-pay link, which can make an invoice for any amount")
		}
		if p.Minimum < 1000 {
			return nil, stipend.Errorf(stipend.EINVALID, "minimum: at least 1000 msat (1 sat)")
		}
	case RailStripe:
		if p.Asset != ledger.USD && p.Asset != ledger.EUR {
			return nil, stipend.Errorf(stipend.EINVALID, "rail: Stripe pays USD or EUR")
		}
		if _, err := s.rail(p.Asset); err != nil {
			return nil, err
		}
		// Sweeps go to the account's own Connect account, resolved now so that a preference
		// never names an account that cannot be paid.
		acct, err := s.connected(ctx, p.AccountID)
		if err != nil {
			return nil, err
		}
		p.Destination = acct
		if p.Minimum < 100 {
			return nil, stipend.Errorf(stipend.EINVALID, "minimum: at least 100 cents")
		}
	default:
		return nil, stipend.Errorf(stipend.EINVALID, "rail: must be %q, %q or %q", RailLightning, RailStripe, RailKeep)
	}
	p.UpdatedAt = s.opts.Now().UTC()
	if err := s.store.SetPreference(ctx, p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Preferences returns the payout preferences of an account the actor may read.
func (s *Service) Preferences(ctx context.Context, actor *accounts.Principal, accountID string) ([]Preference, error) {
	if accountID == "" {
		accountID = actor.Account.ID
	}
	if err := s.accounts.Authorize(ctx, actor, accountID, accounts.Read); err != nil {
		return nil, err
	}
	return s.store.Preferences(ctx, accountID)
}

// HandleSend is the JobSend handler: it takes one payout as far as it can go. A requested
// payout is prepared if need be, committed as in flight, and sent; an in-flight one (after a
// crash, or an outcome the rail could not report yet) is sent again, which the rail turns into
// following the payment it already has. An outcome still unknown reschedules the job.
func (s *Service) HandleSend(ctx context.Context, j jobs.Job) error {
	var payload SendJob
	if err := json.Unmarshal(j.Payload, &payload); err != nil {
		return err
	}
	p, err := s.store.Payout(ctx, payload.PayoutID)
	if err != nil {
		return err
	}
	if p.Final() {
		return nil
	}
	rail, ok := s.rails[p.Rail]
	if !ok {
		return stipend.Errorf(stipend.EUNAVAILABLE, "payout %s: rail %q is not configured", p.ID, p.Rail)
	}
	log := s.opts.Logger.With("payout_id", p.ID)
	if p.Status == Requested {
		if p.PaymentHash == "" {
			prep, err := rail.Prepare(ctx, p.Destination, p.Amount)
			if stipend.ErrorCode(err) == stipend.EINVALID {
				log.Warn("payout destination refused", "reason", stipend.ErrorMessage(err))
				_, err = s.store.Fail(ctx, p.ID, stipend.ErrorMessage(err))
				return ignoreConflict(err)
			}
			if err != nil {
				return err
			}
			prepared, err := s.store.SetPrepared(ctx, p.ID, *prep)
			if stipend.ErrorCode(err) == stipend.ECONFLICT {
				// Cancelled meanwhile, or the invoice is another payout's: either way this
				// one must not be sent. Fail is itself a conflict if it was cancelled.
				_, err = s.store.Fail(ctx, p.ID, "the invoice is already being paid by another payout")
				return ignoreConflict(err)
			}
			if err != nil {
				return err
			}
			p = prepared
		}
		if p, err = s.store.MarkInFlight(ctx, p.ID); err != nil {
			return ignoreConflict(err) // cancelled meanwhile
		}
	}
	out, err := rail.Send(ctx, p)
	if err != nil {
		return err
	}
	return s.record(ctx, p, out)
}

// record applies a rail's outcome to an in-flight payout.
func (s *Service) record(ctx context.Context, p *Payout, out *Outcome) error {
	switch out.Status {
	case OutcomeSucceeded:
		_, err := s.store.Succeed(ctx, p.ID, out.Proof, out.FeePaid)
		return ignoreConflict(err)
	case OutcomeFailed:
		_, err := s.store.Fail(ctx, p.ID, out.Failure)
		return ignoreConflict(err)
	}
	return jobs.Snooze(30 * time.Second)
}

// HandleRecover is the periodic JobRecover handler: every payout not yet final gets a send job
// if it has none, so that a payout whose job died (its attempts ran out while lnd was
// unreachable, say) is followed again instead of holding its reservation for ever.
func (s *Service) HandleRecover(ctx context.Context, _ jobs.Job) error {
	open, err := s.store.OpenPayouts(ctx, 1000)
	if err != nil {
		return err
	}
	revived := 0
	for _, p := range open {
		created, err := s.store.EnqueueSend(ctx, p.ID)
		if err != nil {
			return err
		}
		if created {
			revived++
		}
	}
	if revived > 0 {
		s.opts.Logger.Warn("payouts without a send job were queued again", "count", revived)
		s.kick()
	}
	return jobs.Snooze(time.Minute)
}

// ignoreConflict treats "already moved on" as done: another worker recorded the outcome.
func ignoreConflict(err error) error {
	if stipend.ErrorCode(err) == stipend.ECONFLICT {
		return nil
	}
	return err
}

// HandleSweep is the periodic JobSweep handler: every account whose available balance has
// reached its Lightning preference's minimum gets a payout of that balance, less the fee cap.
func (s *Service) HandleSweep(ctx context.Context, _ jobs.Job) error {
	candidates, err := s.store.SweepCandidates(ctx, 100)
	if err != nil {
		return err
	}
	for _, c := range candidates {
		if err := s.sweep(ctx, c); err != nil && !errors.Is(err, context.Canceled) {
			s.opts.Logger.Warn("sweep not started", "account_id", c.Preference.AccountID, "error", err)
		}
	}
	if len(candidates) > 0 {
		s.kick()
	}
	return jobs.Snooze(s.opts.SweepInterval)
}

func (s *Service) sweep(ctx context.Context, c SweepCandidate) error {
	rail, ok := s.rails[c.Preference.Rail]
	if !ok {
		return stipend.Errorf(stipend.EUNAVAILABLE, "rail %q is not configured", c.Preference.Rail)
	}
	if rail.Name() == RailStripe {
		// The preference named the Connect account when it was set; it must still be the
		// account's own and enabled.
		own, err := s.connected(ctx, c.Preference.AccountID)
		if err != nil {
			return err
		}
		c.Preference.Destination = own
	}
	// The fee cap comes out of the balance too: amount + cap = what is available.
	feeCap := s.feeCap(rail, c.Available)
	amount := c.Available - feeCap
	if (c.Preference.Asset == ledger.BTC && amount < 1000) || amount < 1 {
		return nil
	}
	now := s.opts.Now().UTC()
	id := stipend.NewID("po")
	p := &Payout{
		ID: id, RequestKey: "sweep:" + id, AccountID: c.Preference.AccountID, Rail: rail.Name(),
		Amount: ledger.Amount{Value: amount, Asset: c.Preference.Asset}, FeeCap: feeCap,
		Destination: c.Preference.Destination, Status: Requested, Source: SourceSweep, CreatedAt: now, UpdatedAt: now,
	}
	_, err := s.store.CreatePayout(ctx, p)
	if stipend.ErrorCode(err) == stipend.ECONFLICT || stipend.ErrorCode(err) == stipend.EINSUFFICIENTFUNDS {
		return nil // a sweep is already under way, or the balance moved meanwhile
	}
	return err
}

// isAddress reports whether a destination can make invoices for any amount.
func isAddress(d string) bool {
	return lightning.IsLightningAddress(d) || lightning.IsLNURL(d)
}
