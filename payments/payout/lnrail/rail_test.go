package lnrail_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/lnrpc"

	"github.com/stipend/stipend/internal/regtest"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning/lightningtest"
	"github.com/stipend/stipend/payments/lightning/lnd"
	"github.com/stipend/stipend/payments/payout"
	"github.com/stipend/stipend/payments/payout/lnrail"
	"github.com/stipend/stipend/payments/payout/railtest"
)

func TestMain(m *testing.M) { os.Exit(regtest.RunMain(m)) }

// TestLightningRailConforms runs the rail conformance suite against the Lightning rail on the
// regtest network: the platform pays the payee's invoices; the payer, reachable only through
// the payee for a fee, is the destination that cannot be paid under the fee cap.
func TestLightningRailConforms(t *testing.T) {
	net := regtest.Shared(t)
	client, err := lnd.Dial(lnd.Config{Host: net.Platform.RPCAddr, TLSCertPath: net.Platform.TLSCertPath,
		MacaroonPath: net.Platform.MacaroonPath, Network: "regtest"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	invoice := func(t *testing.T, n *regtest.Node, sat int64) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		inv, err := n.LN.AddInvoice(ctx, &lnrpc.Invoice{Value: sat, Memo: "conformance"})
		if err != nil {
			t.Fatal(err)
		}
		return inv.PaymentRequest
	}
	now := time.Now()
	railtest.Run(t, railtest.Fixture{
		Rail:           lnrail.New(client, "regtest", lnrail.Options{}),
		Amount:         ledger.Sat(1000),
		FeeCap:         0,
		NewDestination: func(t *testing.T) string { return invoice(t, net.Payee, 1000) },
		Unpayable:      func(t *testing.T) string { return invoice(t, net.Payer, 1000) },
		Invalid: []string{
			"", "lnbcrt1notaninvoice", "someone@",
			lightningtest.ForgeInvoice(t, &chaincfg.TestNet3Params, 1_000_000, now, time.Hour),                        // another network
			lightningtest.ForgeInvoice(t, &chaincfg.RegressionNetParams, 2_000_000, now, time.Hour),                   // another amount
			lightningtest.ForgeInvoice(t, &chaincfg.RegressionNetParams, 1_000_000, now.Add(-2*time.Hour), time.Hour), // expired
		},
		Sent: func(t *testing.T, p *payout.Payout) int {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			all, err := client.ListPayments(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, pay := range all {
				if pay.Hash == p.PaymentHash {
					n++
				}
			}
			return n
		},
	})
}
