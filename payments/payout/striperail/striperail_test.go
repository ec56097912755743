package striperail_test

import (
	"os"
	"testing"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/stripemock"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/payout"
	"github.com/stipend/stipend/payments/payout/railtest"
	"github.com/stipend/stipend/payments/payout/striperail"
	"github.com/stipend/stipend/payments/stripe/stripego"
)

// TestMain stops the shared stripe-mock, if a test started one.
func TestMain(m *testing.M) { os.Exit(stripemock.RunMain(m)) }

// TestStripeRailConforms runs the rail conformance suite against stripe-mock. stripe-mock keeps
// no state, so what "Stripe holds for a payout" is read from what reached it: the distinct
// idempotency keys of the transfers sent for the payout. Stripe answers every request with a
// key it has seen with its first answer, so one key is one transfer. stripe-mock cannot
// decline a transfer, so the suite's unpayable case is not run here.
func TestStripeRailConforms(t *testing.T) {
	t.Parallel()
	rec := stripemock.NewRecorder(t, stripemock.Shared(t))
	gw, err := stripego.New(stripego.Config{APIKey: stripemock.APIKey, URL: rec.URL})
	if err != nil {
		t.Fatal(err)
	}
	railtest.Run(t, railtest.Fixture{
		Rail:           striperail.New(gw),
		Amount:         ledger.Cents(1500, ledger.USD),
		NewDestination: func(*testing.T) string { return "acct_" + stipend.NewID("")[1:17] },
		Invalid:        []string{"", "hello", "lnbcrt1pexample", "acct_ with space", "acct_x/../balance"},
		Sent: func(t *testing.T, p *payout.Payout) int {
			keys := map[string]bool{}
			for _, r := range rec.Requests(func(r stripemock.Request) bool {
				return r.Method == "POST" && r.Path == "/v1/transfers" && r.Form.Get("transfer_group") == p.ID
			}) {
				if r.IdempotencyKey != p.ID {
					t.Errorf("a transfer of payout %s went with idempotency key %q", p.ID, r.IdempotencyKey)
				}
				keys[r.IdempotencyKey] = true
			}
			return len(keys)
		},
	})
}
