package wire

import "time"

// CreateCardFundingRequest funds an account (the caller's when empty) by card, in USD or EUR.
// With Checkout, the payer pays on Stripe's hosted page (checkout_url) and is sent back to
// success_url or cancel_url; without it, the client_secret is for Stripe.js.
type CreateCardFundingRequest struct {
	AccountID  string `json:"account_id,omitempty"`
	Amount     int64  `json:"amount"`
	Asset      string `json:"asset"`
	Checkout   bool   `json:"checkout,omitempty"`
	SuccessURL string `json:"success_url,omitempty"`
	CancelURL  string `json:"cancel_url,omitempty"`
}

// CardFunding is a funding by card. ClientSecret, in the creation's response only, is what
// Stripe.js needs to confirm the payment in the payer's browser. Status is pending,
// succeeded, failed or canceled; the balance is credited once it succeeded.
type CardFunding struct {
	ID            string     `json:"id"`
	AccountID     string     `json:"account_id"`
	Status        string     `json:"status"`
	Amount        Money      `json:"amount"`
	AmountPaid    int64      `json:"amount_paid,omitempty"`
	Refunded      int64      `json:"refunded,omitempty"`
	PaymentIntent string     `json:"payment_intent,omitempty"`
	ClientSecret  string     `json:"client_secret,omitempty"`
	CheckoutURL   string     `json:"checkout_url,omitempty"`
	Transaction   string     `json:"transaction_id,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	SettledAt     *time.Time `json:"settled_at,omitempty"`
}

// CreateCardRefundRequest gives (part of) a card funding back to the card that paid it, from
// the funded account's balance. Amount 0 (or absent) refunds all that is left.
type CreateCardRefundRequest struct {
	Amount int64 `json:"amount,omitempty"`
}

// CardRefund is a refund of a card funding. State is pending (debited from the balance, not
// yet taken by Stripe), sent (Stripe is processing it), succeeded, or failed (Stripe refused
// it or it failed; the balance was given back, reversal_transaction_id).
type CardRefund struct {
	ID           string    `json:"id"`
	FundingID    string    `json:"funding_id"`
	AccountID    string    `json:"account_id"`
	Amount       Money     `json:"amount"`
	State        string    `json:"state"`
	StripeRefund string    `json:"stripe_refund,omitempty"`
	Transaction  string    `json:"transaction_id"`
	Reversal     string    `json:"reversal_transaction_id,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// ConnectRequest gives an account a Stripe Connect account for payouts in USD and EUR.
type ConnectRequest struct {
	AccountID string `json:"account_id,omitempty"`
	Country   string `json:"country,omitempty"`
	Email     string `json:"email,omitempty"`
}

// Connect is an account's Stripe Connect account. OnboardingURL, in the response to
// POST /v1/stripe/connect, is where its owner gives Stripe their details.
type Connect struct {
	AccountID        string    `json:"account_id"`
	StripeAccount    string    `json:"stripe_account"`
	PayoutsEnabled   bool      `json:"payouts_enabled"`
	DetailsSubmitted bool      `json:"details_submitted"`
	OnboardingURL    string    `json:"onboarding_url,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
}

// WebhookReceived answers a webhook delivery.
type WebhookReceived struct {
	Received bool `json:"received"`
	Applied  bool `json:"applied"`
}
