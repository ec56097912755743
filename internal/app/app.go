// Package app wires Stipend's parts together: the store on an open database, the domain
// services over it, the payout engine's job runner, the Lightning settlement watcher, and the
// HTTP API over them. cmd/stipendd runs what it builds; tests build the same thing on a test
// database, so that they test the service as it really runs.
package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/api"
	"github.com/stipend/stipend/bounties"
	"github.com/stipend/stipend/endpoints"
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/internal/config"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/internal/safehttp"
	"github.com/stipend/stipend/internal/store"
	"github.com/stipend/stipend/payments"
	"github.com/stipend/stipend/payments/funding"
	"github.com/stipend/stipend/payments/lightning"
	"github.com/stipend/stipend/payments/payout"
	"github.com/stipend/stipend/payments/payout/lnrail"
	"github.com/stipend/stipend/payments/payout/striperail"
	"github.com/stipend/stipend/payments/paywall"
	"github.com/stipend/stipend/payments/stripe"
)

// Lightning connects Stipend to its Lightning node.
type Lightning struct {
	Node     lightning.Node
	NodeID   string // the node's public key, which names its settlement cursor
	Network  string
	Resolver *lightning.Resolver
	// The hold invoices that escrow expert questions: their final CLTV delta, which bounds the
	// answer window they can promise, how long the asker has to pay, and how often the watcher
	// looks for questions awaiting payment; the experts package's defaults when zero.
	HoldCltvExpiry    uint64
	HoldInvoiceExpiry time.Duration
	HoldRescan        time.Duration
}

// Options are the settings the wiring needs.
type Options struct {
	Version      string
	BodyLimit    int64
	ResultsLimit int64
	Logger       *slog.Logger
	Registry     *prometheus.Registry

	Lightning *Lightning // nil when no Lightning node is configured
	Fees      payout.FeePolicy
	// FeeBPS is the platform fee on bounties and on answered questions, in basis points.
	FeeBPS int64
	// Now is the clock of expert questions, which sets their deadlines and judges whether an
	// answer came in time; time.Now when nil. Tests turn it forward to pass an answer window
	// of hours without waiting for it.
	Now  func() time.Time
	Jobs jobs.Options
	// SweepInterval is how often automatic sweeps are looked for.
	SweepInterval time.Duration
	// Paywall tunes priced routes and providers' endpoints.
	Paywall config.Paywall
	// Stripe connects the fiat rail; nil when Stripe is not configured.
	Stripe *Stripe
	// GitHub, when set, lets people link their GitHub logins themselves; GitHubLinkKey signs
	// the codes of that flow.
	GitHub        bounties.GitHubAuth
	GitHubLinkKey []byte
}

// Stripe connects Stipend to Stripe: the API through Gateway, webhooks through Verifier.
type Stripe struct {
	Gateway  stripe.Gateway
	Verifier stripe.Verifier
	// Country is the default country of payees' Connect accounts; ReturnURL and RefreshURL
	// are where Stripe's onboarding sends them back.
	Country, ReturnURL, RefreshURL string
}

// App is a wired Stipend.
type App struct {
	Store     *store.Store
	Accounts  *accounts.Service
	Payments  *payments.Service
	Fundings  *funding.Service
	Payouts   *payout.Service
	Bounties  *bounties.Service
	Experts   *experts.Service
	Endpoints *endpoints.Service
	Paywall   *paywall.Service
	Stripe    *stripe.Service
	Runner    *jobs.Runner
	API       *api.Server

	opts Options
}

// New wires Stipend on d, which must be migrated.
func New(d *db.DB, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	st := store.New(d, nil)
	acc := accounts.NewService(st, nil)
	o.Jobs.Logger = o.Logger
	runner := jobs.NewRunner(st, o.Jobs)
	var rails []payout.Rail
	var node lightning.Node
	var escrow *experts.Lightning
	network := ""
	if o.Lightning != nil {
		network = o.Lightning.Network
		node = o.Lightning.Node
		rails = append(rails, lnrail.New(node, o.Lightning.Network, lnrail.Options{Resolver: o.Lightning.Resolver}))
		escrow = &experts.Lightning{Node: node, CltvExpiry: o.Lightning.HoldCltvExpiry, InvoiceExpiry: o.Lightning.HoldInvoiceExpiry,
			Rescan: o.Lightning.HoldRescan}
	}
	payoutOpts := payout.Options{Fees: o.Fees, SweepInterval: o.SweepInterval, Kicker: runner, Logger: o.Logger}
	var card *experts.Card
	if o.Stripe != nil {
		card = &experts.Card{Gateway: o.Stripe.Gateway}
		rails = append(rails, striperail.New(o.Stripe.Gateway))
		payoutOpts.Connected = func(ctx context.Context, accountID string) (string, bool, error) {
			c, err := st.ConnectedAccount(ctx, accountID)
			if err != nil {
				return "", false, err
			}
			return c.StripeAccount, c.PayoutsEnabled, nil
		}
	}
	a := &App{
		Store:    st,
		Accounts: acc,
		Payments: payments.NewService(st, acc),
		Fundings: funding.NewService(st, acc, node, funding.DefaultLimits, o.Logger, nil),
		Payouts:  payout.NewService(st, acc, rails, payoutOpts),
		Bounties: bounties.NewService(st, acc, bounties.Options{FeeBPS: o.FeeBPS, Logger: o.Logger,
			GitHub: o.GitHub, LinkKey: o.GitHubLinkKey}),
		Experts:   experts.NewService(st, acc, experts.Options{FeeBPS: o.FeeBPS, Logger: o.Logger, Now: o.Now, Lightning: escrow, Card: card}),
		Endpoints: endpoints.NewService(st, acc, o.Now),
		Stripe:    newStripe(st, acc, o),
		Paywall: paywall.New(st, st, paywall.Config{Node: node, Network: network, FeeBPS: o.FeeBPS,
			InvoiceExpiry: o.Paywall.InvoiceExpiry, Lease: o.Paywall.CallLease, Now: o.Now}),
		Runner: runner,
		opts:   o,
	}
	runner.Register(payout.JobSend, a.Payouts.HandleSend)
	runner.Register(payout.JobSweep, a.Payouts.HandleSweep)
	runner.Register(payout.JobRecover, a.Payouts.HandleRecover)
	runner.Register(bounties.JobExpire, a.Bounties.HandleExpire)
	runner.Register(experts.JobExpire, a.Experts.HandleExpire)
	runner.Register(experts.JobListExpire, a.Experts.HandleListExpire)
	runner.Register(experts.JobSettleHold, a.Experts.HandleSettleHold)
	runner.Register(experts.JobCancelHold, a.Experts.HandleCancelHold)
	runner.Register(experts.JobPaymentDue, a.Experts.HandlePaymentDue)
	runner.Register(experts.JobCaptureCard, a.Experts.HandleCaptureCard)
	runner.Register(experts.JobCancelCard, a.Experts.HandleCancelCard)
	runner.Register(experts.JobCardPaymentDue, a.Experts.HandleCardPaymentDue)
	runner.Register(stripe.JobRefund, a.Stripe.HandleRefund)
	srv, err := api.New(api.Deps{
		Accounts:       acc,
		Payments:       a.Payments,
		Fundings:       a.Fundings,
		Payouts:        a.Payouts,
		Bounties:       a.Bounties,
		Experts:        a.Experts,
		Endpoints:      a.Endpoints,
		Paywall:        a.Paywall,
		Stripe:         a.Stripe,
		StripeVerifier: stripeVerifier(o),
		Now:            o.Now,
		Idempotency:    st,
		Ready:          st.Ready,
		Registry:       o.Registry,
		Logger:         o.Logger,
	}, api.Options{Version: o.Version, BodyLimit: o.BodyLimit, ResultsLimit: o.ResultsLimit,
		ChallengeRate: o.Paywall.ChallengeRate, ChallengeBurst: o.Paywall.ChallengeBurst,
		Upstream: safehttp.NewClient(safehttp.Options{AllowPrivate: o.Paywall.PrivateUpstreams, Timeout: upstreamTimeout(o.Paywall)})})
	if err != nil {
		return nil, err
	}
	a.API = srv
	return a, nil
}

// Run runs the background work until ctx ends: the job runner (payouts, sweeps, expiries and
// the escrow's settlements), the refunds of paid calls whose lease ended and, with Lightning,
// the settlement watcher and the watcher of the hold invoices of questions. It returns when
// all of it has stopped.
func (a *App) Run(ctx context.Context) error {
	for _, kind := range []string{payout.JobSweep, payout.JobRecover} {
		if _, _, err := a.Store.Enqueue(ctx, jobs.NewJob{Kind: kind, UniqueKey: kind, MaxAttempts: 1000}); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { a.Runner.Run(ctx) })
	// Paid calls whose server died, or whose serving could not be recorded, stay reserved
	// until their lease ends: the sweeper then releases their credits holds and frees their
	// payments' claims.
	wg.Go(func() {
		a.Paywall.RunSweeper(ctx, sweepInterval(a.opts.Paywall), func(err error) {
			a.opts.Logger.Warn("refunding paid calls whose lease ended", "error", err)
		})
	})
	if l := a.opts.Lightning; l != nil {
		wg.Go(func() { a.Fundings.Watch(ctx, l.NodeID) })
		wg.Go(func() { a.Experts.WatchHolds(ctx) })
	}
	wg.Wait()
	return nil
}

// sweepInterval is how often paid calls whose lease ended are looked for: half a lease, so
// that a call is refunded at most one and a half leases after it was reserved.
func sweepInterval(p config.Paywall) time.Duration {
	lease := p.CallLease
	if lease <= 0 {
		lease = 2 * time.Minute // paywall's default
	}
	return lease / 2
}

func upstreamTimeout(p config.Paywall) time.Duration {
	if p.UpstreamTimeout > 0 {
		return p.UpstreamTimeout
	}
	return 30 * time.Second
}

func newStripe(st *store.Store, acc *accounts.Service, o Options) *stripe.Service {
	so := stripe.Options{Logger: o.Logger, Now: o.Now}
	var gw stripe.Gateway
	if o.Stripe != nil {
		gw = o.Stripe.Gateway
		so.Country, so.ReturnURL, so.RefreshURL = o.Stripe.Country, o.Stripe.ReturnURL, o.Stripe.RefreshURL
	}
	return stripe.NewService(st, acc, gw, so)
}

func stripeVerifier(o Options) stripe.Verifier {
	if o.Stripe == nil {
		return nil
	}
	return o.Stripe.Verifier
}
