package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/stipend/stipend/internal/store"
	"github.com/stipend/stipend/payments/reconcile"
)

// errDifferences makes reconcile exit non-zero when the ledger and lnd disagree.
var errDifferences = errors.New("the ledger and lnd disagree")

// reconcileCmd compares the ledger with lnd's payments and invoices and prints every
// difference. It changes nothing.
func reconcileCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := loadConfig("reconcile", args, stderr, getenv, nil)
	if err != nil {
		return err
	}
	if cfg.LND.Host == "" {
		return errors.New("reconcile needs lnd: set --lnd-host, --lnd-tls-cert and --lnd-macaroon")
	}
	cfg.Migrate = false
	d, err := openDatabase(ctx, cfg, cfg.Logger(stderr))
	if err != nil {
		return err
	}
	defer d.Close()
	node, info, err := connectLND(ctx, cfg.LND)
	if err != nil {
		return err
	}
	defer node.Close()
	r, err := reconcile.Lightning(ctx, store.New(d, nil), node, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lnd %s: %d payments, %d invoices; ledger: %d Lightning payouts, %d fundings, %d questions escrowed by hold invoice\n",
		info.PubKey, r.Payments, r.Invoices, r.Payouts, r.Fundings, r.Escrows)
	if len(r.Differences) == 0 {
		fmt.Fprintln(stdout, "no differences")
		return nil
	}
	for _, d := range r.Differences {
		fmt.Fprintf(stdout, "DIFF %s: %s\n", d.Ref, d.Problem)
	}
	fmt.Fprintf(stdout, "%d differences\n", len(r.Differences))
	return errDifferences
}
