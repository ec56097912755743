package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/payments/ledger"
)

// BenchmarkLedgerTransfer posts one two-entry transfer per iteration, each under its own
// idempotency key, from one funded account to another: the cost of a committed, durable
// ledger transaction with its balance checks.
func BenchmarkLedgerTransfer(b *testing.B) {
	for _, dialect := range dbtest.Dialects {
		b.Run(string(dialect), func(b *testing.B) {
			s := New(dbtest.Open(b, dialect), nil)
			from, to := newUser(b, s, "from"), newUser(b, s, "to")
			credit(b, s, from.ID, ledger.Sat(1_000_000_000))
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Post(ctx, ledger.Transfer(fmt.Sprint("bench-", i), ledger.KindTransfer,
					ledger.AccountAddress(from.ID), ledger.AccountAddress(to.ID), ledger.Msat(1))); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
		})
	}
}

// BenchmarkLedgerTransferParallel posts transfers from 8 concurrent clients, each between its
// own pair of accounts (as pgbench's TPC-B clients each update their own rows), which is the
// figure to hold against pgbench -c 8.
func BenchmarkLedgerTransferParallel(b *testing.B) {
	for _, dialect := range []db.Dialect{db.SQLite, db.Postgres} {
		b.Run(string(dialect), func(b *testing.B) {
			s := New(dbtest.Open(b, dialect), nil)
			const clients = 8
			type pair struct{ from, to string }
			pairs := make([]pair, clients)
			for i := range pairs {
				from, to := newUser(b, s, "from"), newUser(b, s, "to")
				credit(b, s, from.ID, ledger.Sat(1_000_000_000))
				pairs[i] = pair{ledger.AccountAddress(from.ID), ledger.AccountAddress(to.ID)}
			}
			var next, seq atomic.Int64
			ctx := context.Background()
			b.SetParallelism((clients + 1) / 2) // GOMAXPROCS is 2 on the reference machine
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				p := pairs[int(next.Add(1)-1)%clients]
				for pb.Next() {
					if _, err := s.Post(ctx, ledger.Transfer(fmt.Sprint("pbench-", seq.Add(1)), ledger.KindTransfer, p.from, p.to, ledger.Msat(1))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
		})
	}
}
