package apptest

import (
	"testing"

	"github.com/stipend/stipend/internal/app"
	"github.com/stipend/stipend/payments/stripe/stripego"
)

// StripeWebhookSecret signs the webhook events of a test server wired WithStripe.
const StripeWebhookSecret = "whsec_stipend_test_secret"

// WithStripe connects the server to Stripe's API at url (stripe-mock's, in tests), with
// StripeWebhookSecret as its webhook signing secret.
func WithStripe(t testing.TB, url string) Option {
	t.Helper()
	gw, err := stripego.New(stripego.Config{APIKey: "sk_test_stipend", URL: url, WebhookSecret: StripeWebhookSecret})
	if err != nil {
		t.Fatal(err)
	}
	return func(o *app.Options) {
		o.Stripe = &app.Stripe{Gateway: gw, Verifier: gw, Country: "US", ReturnURL: "http://stipend.test/v1/stripe/connect/done",
			RefreshURL: "http://stipend.test/v1/stripe/connect/done"}
	}
}
