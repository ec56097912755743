package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stipend/stipend/internal/app"
	"github.com/stipend/stipend/internal/config"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/githubauth"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/payments/lightning"
	"github.com/stipend/stipend/payments/lightning/lnd"
	"github.com/stipend/stipend/payments/payout"
	"github.com/stipend/stipend/payments/stripe/stripego"
)

func isHelp(err error) bool { return config.IsHelp(err) }

// loadConfig parses a command's flags and the environment.
func loadConfig(name string, args []string, stderr io.Writer, getenv func(string) string, extra func(*flag.FlagSet)) (*config.Config, error) {
	fs := flag.NewFlagSet("stipendd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if extra != nil {
		extra(fs)
	}
	return config.Load(fs, args, getenv)
}

// openDatabase opens the configured database and brings its schema up to date, or, with
// --migrate=false, refuses an outdated schema.
func openDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger) (*db.DB, error) {
	d, err := db.Open(ctx, cfg.DatabaseURL, db.MaxConns(cfg.DatabaseConns))
	if err != nil {
		return nil, err
	}
	if cfg.Migrate {
		applied, err := d.Migrate(ctx)
		if err != nil {
			d.Close()
			return nil, err
		}
		for _, m := range applied {
			log.Info("applied migration", "version", m.Version, "name", m.Name)
		}
		return d, nil
	}
	current, latest, err := d.SchemaVersion(ctx)
	if err != nil {
		d.Close()
		return nil, err
	}
	if current != latest {
		d.Close()
		return nil, fmt.Errorf("the database schema is at version %d and this binary needs %d: run \"stipendd migrate\" or start with --migrate=true", current, latest)
	}
	return d, nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := loadConfig("serve", args, stderr, getenv, nil)
	if err != nil {
		return err
	}
	log := cfg.Logger(stderr)
	d, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	opts, closeLN, err := appOptions(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeLN()
	a, err := app.New(d, opts)
	if err != nil {
		return err
	}
	secret, created, err := a.Accounts.Bootstrap(ctx)
	if err != nil {
		return fmt.Errorf("creating the first admin key: %w", err)
	}
	if created {
		// Printed once, to the terminal and never to the log: this is the only copy.
		fmt.Fprintf(stdout, "\nThis is the first start of this Stipend installation. Its admin API key is:\n\n    %s\n\n"+
			"It is shown only this once; keep it safe. (\"stipendd admin-key\" makes another.)\n\n", secret)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s (--listen, STIPEND_LISTEN): %w", cfg.Listen, err)
	}
	hs := &http.Server{
		Handler:           a.API,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("stipendd listening", "address", ln.Addr().String(), "database", string(d.Dialect()), "version", version())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	// The background work (payouts, sweeps, the settlement watcher) stops after the HTTP
	// server, so that requests in flight can still enqueue their jobs.
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	bgDone := make(chan struct{})
	go func() { a.Run(bgCtx); close(bgDone) }()
	defer func() { stopBackground(); <-bgDone }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// appOptions turns the configuration into the wiring's options, connecting to lnd when one is
// configured. The returned function closes the connection.
func appOptions(ctx context.Context, cfg *config.Config, log *slog.Logger) (app.Options, func(), error) {
	o := app.Options{
		Version:       version(),
		BodyLimit:     cfg.BodyLimit,
		Logger:        log,
		Registry:      prometheus.NewRegistry(),
		Fees:          payout.FeePolicy{FeeBPS: cfg.PayoutFeeCapBPS, MinFee: cfg.PayoutMinFeeCap},
		FeeBPS:        int64(cfg.FeeBPS),
		ResultsLimit:  cfg.ResultsLimit,
		Jobs:          jobs.Options{Workers: cfg.Workers, Lease: cfg.JobLease},
		SweepInterval: cfg.SweepInterval,
		Paywall:       cfg.Paywall,
	}
	if cfg.GitHub.ClientID != "" {
		o.GitHub = githubauth.New(githubauth.Config{ClientID: cfg.GitHub.ClientID, ClientSecret: cfg.GitHub.ClientSecret,
			WebURL: cfg.GitHub.WebURL, APIURL: cfg.GitHub.APIURL, RedirectURL: cfg.PublicURL + "/v1/github/callback"})
		o.GitHubLinkKey = githubauth.LinkKey(cfg.GitHub.ClientSecret)
	}
	if cfg.Stripe.APIKey != "" {
		gw, err := stripego.New(stripego.Config{APIKey: cfg.Stripe.APIKey, URL: cfg.Stripe.APIURL, WebhookSecret: cfg.Stripe.WebhookSecret,
			ConnectWebhookSecret: cfg.Stripe.ConnectWebhookSecret,
			Tolerance:            cfg.Stripe.Tolerance})
		if err != nil {
			return o, nil, err
		}
		o.Stripe = &app.Stripe{Gateway: gw, Verifier: gw, Country: cfg.Stripe.Country,
			ReturnURL: cfg.PublicURL + "/v1/stripe/connect/done", RefreshURL: cfg.PublicURL + "/v1/stripe/connect/done"}
	} else {
		log.Info("no Stripe configured (--stripe-api-key): card fundings and fiat payouts are off")
	}
	if cfg.LND.Host == "" {
		log.Info("no lnd configured (--lnd-host): Lightning fundings and payouts are off")
		return o, func() {}, nil
	}
	node, info, err := connectLND(ctx, cfg.LND)
	if err != nil {
		return o, nil, err
	}
	o.Lightning = &app.Lightning{Node: node, NodeID: info.PubKey, Network: cfg.LND.Network,
		Resolver:       &lightning.Resolver{Network: cfg.LND.Network, AllowInsecure: cfg.LNURLInsecure},
		HoldCltvExpiry: cfg.HoldCltvExpiry, HoldInvoiceExpiry: cfg.HoldInvoiceExpiry}
	log.Info("connected to lnd", "host", cfg.LND.Host, "pubkey", info.PubKey, "network", info.Network, "block_height", info.BlockHeight)
	return o, func() { node.Close() }, nil
}

// connectLND dials lnd and waits up to half a minute for it to answer, refusing a node on
// another network than the one configured: invoices for the wrong network must never be made
// or paid.
func connectLND(ctx context.Context, c config.LND) (*lnd.Client, *lightning.Info, error) {
	node, err := lnd.Dial(lnd.Config{Host: c.Host, TLSCertPath: c.TLSCertPath, MacaroonPath: c.MacaroonPath, Network: c.Network})
	if err != nil {
		return nil, nil, fmt.Errorf("lnd (--lnd-host, --lnd-tls-cert, --lnd-macaroon): %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := node.Info(ictx)
		cancel()
		if err == nil {
			if info.Network != c.Network {
				node.Close()
				return nil, nil, fmt.Errorf("lnd at %s is on %s, but --lnd-network (STIPEND_LND_NETWORK) says %s", c.Host, info.Network, c.Network)
			}
			return node, info, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			node.Close()
			return nil, nil, fmt.Errorf("lnd at %s does not answer: %w", c.Host, err)
		}
		time.Sleep(time.Second)
	}
}
