// Package funding brings money into Stipend. A Lightning funding is an invoice made for an
// account; when the invoice is settled, the account is credited with what was paid, exactly
// once, however often the settlement is seen: by this process after a restart, or by several
// servers watching the same node.
package funding

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning"
)

// Funding states.
const (
	Open    = "open"
	Settled = "settled"
	Expired = "expired" // an open funding past its invoice's expiry; never stored
)

// Funding is an invoice that credits an account when it is paid.
type Funding struct {
	ID          string
	AccountID   string
	Amount      ledger.Amount
	AmountPaid  int64 // what the payer actually paid, once settled
	Invoice     string
	PaymentHash string
	Memo        string
	Status      string
	LedgerTx    string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	SettledAt   *time.Time
}

// Store keeps fundings and applies settlements.
type Store interface {
	// CreateFunding stores an open funding.
	CreateFunding(ctx context.Context, f *Funding) error

	// Funding returns a funding. Returns ENOTFOUND.
	Funding(ctx context.Context, id string) (*Funding, error)

	// ApplySettlement applies one settled invoice of a node exactly once: the funding with its
	// payment hash, if any and still open, becomes settled and its account is credited with
	// the amount paid; and the node's cursor moves to the invoice's settle index. All in one
	// transaction. It returns the funding it credited, or nil.
	ApplySettlement(ctx context.Context, node string, u lightning.InvoiceUpdate) (*Funding, error)

	// SettleCursor returns the settle index up to which a node's settlements were applied.
	SettleCursor(ctx context.Context, node string) (uint64, error)
}

// Limits bound the amount of one funding.
type Limits struct {
	Min, Max int64 // msat
	Expiry   time.Duration
}

// DefaultLimits allow 1 sat to 0.1 BTC per invoice, valid for an hour.
var DefaultLimits = Limits{Min: 1_000, Max: 10_000_000_000, Expiry: time.Hour}

// Service makes funding invoices and credits them when they are paid.
type Service struct {
	store    Store
	accounts *accounts.Service
	node     lightning.Node
	limits   Limits
	log      *slog.Logger
	now      func() time.Time
}

// NewService returns a Service making invoices on node.
func NewService(store Store, acc *accounts.Service, node lightning.Node, limits Limits, log *slog.Logger, now func() time.Time) *Service {
	if limits == (Limits{}) {
		limits = DefaultLimits
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, accounts: acc, node: node, limits: limits, log: log, now: now}
}

// Create makes an invoice that credits accountID ("" for the caller's own account) when paid.
// Anyone may fund an account they can read; the money is theirs to give.
//
// Returns EFORBIDDEN, EINVALID (asset, amount, memo) and EUNAVAILABLE (no node).
func (s *Service) Create(ctx context.Context, actor *accounts.Principal, accountID string, amount ledger.Amount, memo string) (*Funding, error) {
	if err := accounts.Require(actor, accounts.ScopeRead); err != nil {
		return nil, err
	}
	if accountID == "" {
		accountID = actor.Account.ID
	}
	if err := s.accounts.Authorize(ctx, actor, accountID, accounts.Read); err != nil {
		return nil, err
	}
	if err := amount.CheckPositive("amount"); err != nil {
		return nil, err
	}
	if amount.Asset != ledger.BTC {
		return nil, stipend.Errorf(stipend.EINVALID, "asset: Lightning funds BTC; fund %s by card", amount.Asset)
	}
	if amount.Value%1000 != 0 {
		return nil, stipend.Errorf(stipend.EINVALID, "amount: whole satoshis only (a multiple of 1000 msat)")
	}
	if amount.Value < s.limits.Min || amount.Value > s.limits.Max {
		return nil, stipend.Errorf(stipend.EINVALID, "amount: between %s and %s", ledger.Msat(s.limits.Min), ledger.Msat(s.limits.Max))
	}
	if err := stipend.CheckText("memo", memo, 200, true); err != nil {
		return nil, err
	}
	if s.node == nil {
		return nil, stipend.Errorf(stipend.EUNAVAILABLE, "Lightning is not configured on this server")
	}
	text := memo
	if text == "" {
		text = "Stipend funding"
	}
	inv, err := s.node.AddInvoice(ctx, lightning.InvoiceRequest{AmountMsat: amount.Value, Memo: text, Expiry: s.limits.Expiry})
	if err != nil {
		return nil, err
	}
	f := &Funding{
		ID: stipend.NewID("fund"), AccountID: accountID, Amount: amount, Invoice: inv.PaymentRequest,
		PaymentHash: inv.Hash, Memo: memo, Status: Open, CreatedAt: s.now().UTC().Truncate(time.Microsecond),
		ExpiresAt: inv.ExpiresAt.Truncate(time.Microsecond),
	}
	// The invoice exists before its row: if storing fails, an invoice nobody was given is
	// left in lnd, which reconciliation reports if it is ever paid.
	if err := s.store.CreateFunding(ctx, f); err != nil {
		return nil, err
	}
	return f, nil
}

// Get returns a funding of an account the actor may read; others' are reported missing.
// An open funding whose invoice has expired is reported as expired. Returns ENOTFOUND.
func (s *Service) Get(ctx context.Context, actor *accounts.Principal, id string) (*Funding, error) {
	f, err := s.store.Funding(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.accounts.Authorize(ctx, actor, f.AccountID, accounts.Read); err != nil {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no funding %s", id)
	}
	if f.Status == Open && !s.now().Before(f.ExpiresAt) {
		f.Status = Expired
	}
	return f, nil
}

// Watch applies the node's settlements until ctx ends. It resumes from the stored cursor,
// after a restart and after every broken subscription, so no settlement is lost; applying one
// twice changes nothing, so none is counted twice.
func (s *Service) Watch(ctx context.Context, nodeID string) error {
	wait := time.Second
	for {
		err := s.watchOnce(ctx, nodeID)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("invoice subscription ended; resuming", "error", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, time.Minute)
	}
}

func (s *Service) watchOnce(ctx context.Context, nodeID string) error {
	// Each attempt has its own context, so that leaving it closes its subscription.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cursor, err := s.store.SettleCursor(ctx, nodeID)
	if err != nil {
		return err
	}
	updates, errs, err := s.node.SubscribeSettled(ctx, cursor)
	if err != nil {
		return err
	}
	for u := range updates {
		f, err := s.store.ApplySettlement(ctx, nodeID, u)
		if err != nil {
			return err
		}
		if f != nil {
			s.log.Info("funding settled", "funding_id", f.ID, "account_id", f.AccountID, "amount_msat", f.AmountPaid)
		}
	}
	select {
	case err := <-errs:
		return err
	default:
		return errors.New("the subscription closed")
	}
}
