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
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/internal/store"
	"github.com/stipend/stipend/payments"
	"github.com/stipend/stipend/payments/funding"
	"github.com/stipend/stipend/payments/lightning"
	"github.com/stipend/stipend/payments/payout"
	"github.com/stipend/stipend/payments/payout/lnrail"
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
	// GitHub, when set, lets people link their GitHub logins themselves; GitHubLinkKey signs
	// the codes of that flow.
	GitHub        bounties.GitHubAuth
	GitHubLinkKey []byte
}

// App is a wired Stipend.
type App struct {
	Store    *store.Store
	Accounts *accounts.Service
	Payments *payments.Service
	Fundings *funding.Service
	Payouts  *payout.Service
	Bounties *bounties.Service
	Experts  *experts.Service
	Runner   *jobs.Runner
	API      *api.Server

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
	if o.Lightning != nil {
		node = o.Lightning.Node
		rails = append(rails, lnrail.New(node, o.Lightning.Network, lnrail.Options{Resolver: o.Lightning.Resolver}))
		escrow = &experts.Lightning{Node: node, CltvExpiry: o.Lightning.HoldCltvExpiry, InvoiceExpiry: o.Lightning.HoldInvoiceExpiry,
			Rescan: o.Lightning.HoldRescan}
	}
	a := &App{
		Store:    st,
		Accounts: acc,
		Payments: payments.NewService(st, acc),
		Fundings: funding.NewService(st, acc, node, funding.DefaultLimits, o.Logger, nil),
		Payouts: payout.NewService(st, acc, rails, payout.Options{Fees: o.Fees, SweepInterval: o.SweepInterval,
			Kicker: runner, Logger: o.Logger}),
		Bounties: bounties.NewService(st, acc, bounties.Options{FeeBPS: o.FeeBPS, Logger: o.Logger,
			GitHub: o.GitHub, LinkKey: o.GitHubLinkKey}),
		Experts: experts.NewService(st, acc, experts.Options{FeeBPS: o.FeeBPS, Logger: o.Logger, Now: o.Now, Lightning: escrow}),
		Runner:  runner,
		opts:    o,
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
	srv, err := api.New(api.Deps{
		Accounts:    acc,
		Payments:    a.Payments,
		Fundings:    a.Fundings,
		Payouts:     a.Payouts,
		Bounties:    a.Bounties,
		Experts:     a.Experts,
		Idempotency: st,
		Ready:       st.Ready,
		Registry:    o.Registry,
		Logger:      o.Logger,
	}, api.Options{Version: o.Version, BodyLimit: o.BodyLimit, ResultsLimit: o.ResultsLimit})
	if err != nil {
		return nil, err
	}
	a.API = srv
	return a, nil
}

// Run runs the background work until ctx ends: the job runner (payouts, sweeps, expiries and
// the escrow's settlements) and, with Lightning, the settlement watcher and the watcher of the
// hold invoices of questions. It returns when all of it has stopped.
func (a *App) Run(ctx context.Context) error {
	for _, kind := range []string{payout.JobSweep, payout.JobRecover} {
		if _, _, err := a.Store.Enqueue(ctx, jobs.NewJob{Kind: kind, UniqueKey: kind, MaxAttempts: 1000}); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { a.Runner.Run(ctx) })
	if l := a.opts.Lightning; l != nil {
		wg.Go(func() { a.Fundings.Watch(ctx, l.NodeID) })
		wg.Go(func() { a.Experts.WatchHolds(ctx) })
	}
	wg.Wait()
	return nil
}
