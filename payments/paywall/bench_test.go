package paywall_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/regtest"
)

// BenchmarkPaidCalls measures calls per second of a provider's endpoint on a real regtest
// network, in one run: the upstream called directly (the route without Stipend or a price),
// the same call through Stipend's proxy with a reusable L402 token, and with a single-use
// token paid for each call. The single-use invoices are paid before the timer starts, so the
// figure is what the server does per paid call (verify, claim the payment hash, proxy, post
// the ledger), not the payer's Lightning payments. Run it with a fixed count, which is the
// number of invoices paid per database:
//
//	go test -run '^$' -bench PaidCalls -benchtime 1000x ./payments/paywall/
func BenchmarkPaidCalls(b *testing.B) {
	net := regtest.Shared(b)
	for _, dialect := range []db.Dialect{db.SQLite, db.Postgres} {
		w := newWorld(b, net, dialect)
		reusable, single := w.register(b, 10_000, time.Hour), w.register(b, 10_000, 0)
		c := w.unpaid(b, http.MethodGet, reusable.URL+"v1/forecast")
		token := l402Authorization(b, c, w.pay(b, c.invoice))
		b.Run(string(dialect)+"/unpriced-upstream", func(b *testing.B) {
			benchCalls(b, w, w.upstream.URL+"/api/v1/forecast", func(int) string { return "" })
		})
		b.Run(string(dialect)+"/reusable-l402", func(b *testing.B) {
			benchCalls(b, w, reusable.URL+"v1/forecast", func(int) string { return token })
		})
		b.Run(string(dialect)+"/single-use-l402", func(b *testing.B) {
			b.StopTimer()
			creds := make([]string, b.N)
			for i := range creds {
				c := w.unpaid(b, http.MethodGet, single.URL+"v1/forecast")
				creds[i] = l402Authorization(b, c, w.pay(b, c.invoice))
			}
			b.StartTimer()
			benchCalls(b, w, single.URL+"v1/forecast", func(i int) string { return creds[i] })
		})
	}
}

// benchCalls makes b.N GET calls of url from parallel goroutines, the i-th with credential
// authz(i), and fails on any answer but 200.
func benchCalls(b *testing.B, w *world, url string, authz func(i int) string) {
	b.Helper()
	var next atomic.Int64
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1) - 1)
			resp, raw, err := w.try(http.MethodGet, url, authz(i), nil)
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Errorf("call %d: %v %v %s", i, err, statusOf(resp), raw)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}
