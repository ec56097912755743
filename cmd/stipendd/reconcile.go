package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/stipend/stipend/internal/store"
	"github.com/stipend/stipend/payments/reconcile"
	"github.com/stipend/stipend/payments/stripe/stripego"
)

// errDifferences makes reconcile exit non-zero when the ledger and a rail disagree.
var errDifferences = errors.New("the ledger and a rail disagree")

// reconcileCmd compares the ledger with lnd's payments and invoices, and with Stripe's balance
// transactions of a recent window, and prints every difference. It changes nothing.
func reconcileCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var since time.Duration
	cfg, err := loadConfig("reconcile", args, stderr, getenv, func(fs *flag.FlagSet) {
		fs.DurationVar(&since, "stripe-since", 48*time.Hour, "how far back Stripe's balance transactions are compared")
	})
	if err != nil {
		return err
	}
	if cfg.LND.Host == "" && cfg.Stripe.APIKey == "" {
		return errors.New("reconcile needs a rail: lnd (--lnd-host, --lnd-tls-cert, --lnd-macaroon) or Stripe (--stripe-api-key)")
	}
	cfg.Migrate = false
	d, err := openDatabase(ctx, cfg, cfg.Logger(stderr))
	if err != nil {
		return err
	}
	defer d.Close()
	st := store.New(d, nil)
	var diffs []reconcile.Difference
	if cfg.LND.Host != "" {
		node, info, err := connectLND(ctx, cfg.LND)
		if err != nil {
			return err
		}
		defer node.Close()
		r, err := reconcile.Lightning(ctx, st, node, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "lnd %s: %d payments, %d invoices; ledger: %d Lightning payouts, %d fundings, %d questions escrowed by hold invoice\n",
			info.PubKey, r.Payments, r.Invoices, r.Payouts, r.Fundings, r.Escrows)
		diffs = append(diffs, r.Differences...)
	}
	if cfg.Stripe.APIKey != "" {
		gw, err := stripego.New(stripego.Config{APIKey: cfg.Stripe.APIKey, URL: cfg.Stripe.APIURL})
		if err != nil {
			return err
		}
		// The window ends a few minutes ago: Stripe and the ledger timestamp one payment
		// seconds apart, and the events of the last minutes may not have arrived yet.
		to := time.Now().Add(-5 * time.Minute)
		r, err := reconcile.Stripe(ctx, st, gw, to.Add(-since), to)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Stripe, %s to %s: %d balance transactions; ledger: %d card fundings, %d captured answers, %d card refunds, %d Stripe payouts\n",
			to.Add(-since).Format(time.RFC3339), to.Format(time.RFC3339), r.Transactions, r.Fundings, r.Escrows, r.Refunds, r.Payouts)
		diffs = append(diffs, r.Differences...)
	}
	if len(diffs) == 0 {
		fmt.Fprintln(stdout, "no differences")
		return nil
	}
	for _, d := range diffs {
		fmt.Fprintf(stdout, "DIFF %s: %s\n", d.Ref, d.Problem)
	}
	fmt.Fprintf(stdout, "%d differences\n", len(diffs))
	return errDifferences
}
