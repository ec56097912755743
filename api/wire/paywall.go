package wire

import "time"

// Access says how long one payment opens a priced route.
const (
	AccessSingleUse = "single_use" // one call per payment
	AccessReusable  = "reusable"   // any number of calls until the token's expiry
)

// The ways to pay a priced route, as PaymentRequired.Methods names them.
const (
	MethodL402    = "l402"    // pay the invoice, retry with Authorization: L402 <macaroon>:<preimage>
	MethodPayment = "payment" // pay the invoice, retry with Authorization: Payment <credential>
	MethodCredits = "credits" // retry with Authorization: Bearer <API key>; the price is taken from its balance
)

// PaymentRequired is the body of a 402 response: a problem with the price and how to pay it.
// The same invoice is in the L402/LSAT and Payment challenges of the WWW-Authenticate headers,
// which are authoritative; it is repeated here for clients that read bodies.
type PaymentRequired struct {
	Problem
	Price       Money     `json:"price"`
	Methods     []string  `json:"methods"`
	Access      string    `json:"access"`
	TTLSeconds  int64     `json:"ttl_seconds,omitempty"`
	Invoice     string    `json:"invoice,omitempty"`
	PaymentHash string    `json:"payment_hash,omitempty"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
}

// CreateEndpointRequest registers a provider's upstream API, sold per call through
// /x/{id}/... . PathPattern is the path below the endpoint that may be called: an exact path
// such as "/v1/forecast", or a prefix ending in "/*" such as "/v1/*" ("/*": any path).
// TTLSeconds 0 sells one call per payment; more sells reusable access for that long.
type CreateEndpointRequest struct {
	Name        string       `json:"name"`
	Upstream    string       `json:"upstream"`
	PathPattern string       `json:"path_pattern"`
	Price       MoneyRequest `json:"price"`
	TTLSeconds  int64        `json:"ttl_seconds"`
}

// Endpoint is a provider's priced upstream API. URL is where callers reach it.
type Endpoint struct {
	ID          string    `json:"id"`
	OwnerID     string    `json:"owner_id"`
	Name        string    `json:"name"`
	Upstream    string    `json:"upstream,omitempty"`
	PathPattern string    `json:"path_pattern"`
	Price       Money     `json:"price"`
	Fee         Money     `json:"fee"`
	Access      string    `json:"access"`
	TTLSeconds  int64     `json:"ttl_seconds,omitempty"`
	Status      string    `json:"status"`
	URL         string    `json:"url"`
	CreatedAt   time.Time `json:"created_at"`
}

// EndpointList is a provider's endpoints.
type EndpointList struct {
	Endpoints []Endpoint `json:"endpoints"`
}
