package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
)

// BenchmarkUpload10kResults uploads 10,000 passing results to a bounty with 10,000 units, over
// HTTP, and reports results paid per second: parsing, one row per result, one ledger
// transaction per payment, all in one database transaction.
//
//	go test ./api -run '^$' -bench BenchmarkUpload10kResults -benchtime 3x
func BenchmarkUpload10kResults(b *testing.B) {
	const n = 10_000
	for _, dialect := range []db.Dialect{db.SQLite, db.Postgres} {
		b.Run(string(dialect), func(b *testing.B) {
			ts := newTestServer(b, dbtest.Open(b, dialect))
			ts.validate = false
			sponsor, sponsorKey := ts.createUser("sponsor")
			ts.credit(sponsor.ID, int64(b.N)*n*1025+1_000_000, "BTC")
			var body strings.Builder
			body.WriteString("[")
			for i := 0; i < n; i++ {
				if i > 0 {
					body.WriteString(",")
				}
				fmt.Fprintf(&body, `{"run_id":"bench","test":"pkg.Test%05d","outcome":"pass","contributor":"dev-%d","duration":0.01}`, i, i%50)
			}
			body.WriteString("]")
			data := []byte(body.String())
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				bt := ts.newBounty(sponsorKey, wire.CreateBountyRequest{Kind: "test_run", Title: "bench", Reward: wire.MoneyRequest{Amount: 1000, Asset: "BTC"},
					Units: n, Approval: "ci", Deadline: inAWeek()})
				token := ts.ciToken(sponsorKey, bt.ID)
				b.StartTimer()
				h := http.Header{"Idempotency-Key": {newKey()}, "Content-Type": {"application/json"}}
				r, out := ts.raw(http.MethodPost, "/v1/bounties/"+bt.ID+"/results", token, data, h)
				var rep wire.ResultsReport
				if err := json.Unmarshal(out, &rep); err != nil || r.StatusCode != http.StatusOK || rep.Paid != n {
					b.Fatalf("upload: %d, paid %d, %v", r.StatusCode, rep.Paid, err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "results/s")
		})
	}
}
