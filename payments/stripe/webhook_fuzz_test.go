package stripe_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/stripemock"
	"github.com/stipend/stipend/payments/stripe/stripego"
)

// FuzzWebhookHandler sends arbitrary bodies and Stripe-Signature headers to the webhook
// endpoint: nothing is accepted, and no event recorded, unless the delivery is signed with the
// endpoint's secret. The seeds include a valid delivery whose body or header is then mutated.
func FuzzWebhookHandler(f *testing.F) {
	srv := apptest.StartOn(f, dbtest.Open(f, db.SQLite), apptest.WithStripe(f, stripemock.Shared(f).URL))
	w := &world{srv: srv, admin: client.New(srv.URL, srv.Admin)}
	// The seed's body is the same in every fuzzing process (its signature's time is not), so
	// that the one body ever signed can be recognised in all of them.
	valid := []byte(`{"id":"evt_fuzz_seed","object":"event","api_version":"2023-10-16","created":1700000000,"type":"account.updated",` +
		`"data":{"object":{"id":"acct_fuzz","object":"account","payouts_enabled":true}}}`)
	header := stripego.SignPayload(valid, apptest.StripeWebhookSecret, time.Now())
	f.Add(valid, header)
	f.Add(valid, "")
	f.Add(append(valid, ' '), header)
	f.Add(valid, header+",v1=00")
	f.Add([]byte("{}"), "t=1,v1=abc")
	f.Add(valid, stripego.SignPayload(valid, "whsec_wrong", time.Now()))
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/stripe/webhook", bytes.NewReader(body))
		req.Header.Set("Stripe-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return // a header value no HTTP client sends (control characters): nothing reached the server
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return
		}
		// Accepted: it must be the one body the secret ever signed; its header may differ from
		// the seed's (another process's signing time, extra v1 elements, as Stripe allows
		// during a rotation of the secret), which only someone with the secret can make valid.
		if !bytes.Equal(body, valid) {
			t.Fatalf("accepted a delivery that was not signed with the endpoint's secret: %q %q", body, sig)
		}
	})
	var n int
	if err := w.srv.DB.QueryRow(context.Background(), `SELECT COUNT(*) FROM stripe_events WHERE id <> 'evt_fuzz_seed'`).Scan(&n); err != nil {
		f.Fatal(err)
	}
	if n != 0 {
		f.Fatalf("%d events recorded from unsigned deliveries", n)
	}
}
