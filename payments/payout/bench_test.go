package payout_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"

	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/payments/lightning"
	"github.com/stipend/stipend/payments/payout"
)

// BenchmarkPayouts measures, on the same regtest network and in the same run, payouts per
// second through the whole engine (request, reservation, job, in-flight commit, lnd, outcome
// and settlement postings) and raw SendPaymentV2 payments per second from the same node with
// the same concurrency: the ratio is what Stipend's bookkeeping costs.
//
//	go test ./payments/payout -run '^$' -bench BenchmarkPayouts -benchtime 200x
func BenchmarkPayouts(b *testing.B) {
	const workers = 8
	for _, dialect := range []db.Dialect{db.SQLite, db.Postgres} {
		b.Run("engine/"+string(dialect), func(b *testing.B) {
			e := newBenchEngine(b, dialect)
			u := e.user(b, int64(b.N)*2+1000)
			invoices := benchInvoices(b, e, b.N)
			zero := int64(0)
			ctx := context.Background()
			stop := e.runB(b, workers)
			defer stop()
			b.ResetTimer()
			ids := make([]string, b.N)
			for i := range invoices {
				p, err := e.svc.Request(ctx, u, payout.Request{Destination: invoices[i], MaxFee: &zero}, fmt.Sprint("bench-", i))
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = p.ID
			}
			for _, id := range ids {
				for {
					p, err := e.store.Payout(ctx, id)
					if err != nil {
						b.Fatal(err)
					}
					if p.Final() {
						if p.Status != payout.Succeeded {
							b.Fatalf("payout %s: %s (%s)", id, p.Status, p.Failure)
						}
						break
					}
					time.Sleep(2 * time.Millisecond)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payouts/s")
		})
	}
	b.Run("raw SendPaymentV2", func(b *testing.B) {
		e := newBenchEngine(b, db.SQLite)
		invoices := benchInvoices(b, e, b.N)
		ctx := context.Background()
		work := make(chan string)
		var wg sync.WaitGroup
		b.ResetTimer()
		for w := 0; w < workers; w++ {
			wg.Go(func() {
				for inv := range work {
					p, err := e.client.SendPayment(ctx, lightning.PaymentRequest{Invoice: inv, Timeout: time.Minute})
					if err != nil || p.Status != lightning.PaymentSucceeded {
						b.Errorf("raw payment: %+v, %v", p, err)
					}
				}
			})
		}
		for _, inv := range invoices {
			work <- inv
		}
		close(work)
		wg.Wait()
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payments/s")
	})
}

// newBenchEngine is newEngine for benchmarks.
func newBenchEngine(b *testing.B, dialect db.Dialect) *engine {
	b.Helper()
	return newEngine(b, dbtest.Open(b, dialect))
}

func benchInvoices(b *testing.B, e *engine, n int) []string {
	b.Helper()
	out := make([]string, n)
	for i := range out {
		inv, err := e.net.Payee.LN.AddInvoice(context.Background(), &lnrpc.Invoice{Value: 1, Memo: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = inv.PaymentRequest
	}
	return out
}
