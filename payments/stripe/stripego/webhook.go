package stripego

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"

	stripeapi "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/stripe"
)

// errBadDelivery is the one message of every refused delivery, whatever the reason: the
// reason goes only into the wrapped error, and nothing quotes the header or the secret.
const errBadDelivery = "the webhook delivery could not be verified"

func refuse(reason string) error {
	return &stipend.Error{Code: stipend.EINVALID, Message: errBadDelivery, Err: errors.New(reason)}
}

// maxTimestamp bounds the t= of a signature header (the year 5138), so that time arithmetic
// on it cannot overflow.
const maxTimestamp = 1e11

// Verify implements stripe.Verifier. The signature is checked by stripe-go's webhook package
// (HMAC-SHA256 of "t.payload" with the endpoint secret, any of the v1 signatures, in constant
// time); the timestamp is checked here against now, in both directions, because stripe-go
// measures only the age, and against the wall clock rather than the now it is given. The
// event's API version is not checked: the event is read only for its envelope and its raw
// data.object.
func (c *Client) Verify(payload []byte, header string, now time.Time) (*stripe.Event, error) {
	if c.whsec == "" {
		return nil, refuse("no webhook secret is configured")
	}
	ts, err := signedAt(header)
	if err != nil {
		return nil, err
	}
	if now.Sub(ts) > c.tolerance {
		return nil, refuse("the signature's timestamp is older than the tolerance")
	}
	if ts.Sub(now) > c.tolerance {
		return nil, refuse("the signature's timestamp is further in the future than the tolerance")
	}
	// The platform's endpoint and its Connect endpoint (which alone receives connected
	// accounts' events) each have a secret; a delivery signed with either is genuine.
	var ev stripeapi.Event
	for _, secret := range []string{c.whsec, c.connectWhsec} {
		if secret == "" {
			continue
		}
		ev, err = webhook.ConstructEventWithOptions(payload, header, secret, webhook.ConstructEventOptions{
			IgnoreTolerance:          true, // checked above, against now
			IgnoreAPIVersionMismatch: true,
		})
		if !errors.Is(err, webhook.ErrNoValidSignature) {
			break
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, webhook.ErrNoValidSignature), errors.Is(err, webhook.ErrNotSigned),
			errors.Is(err, webhook.ErrInvalidHeader), errors.Is(err, webhook.ErrTooOld):
			return nil, refuse("no signature in the header verifies")
		default:
			return nil, refuse("the signed body is not a Stripe event")
		}
	}
	if ev.ID == "" || ev.Type == "" || ev.Data == nil || !bytes.HasPrefix(bytes.TrimSpace(ev.Data.Raw), []byte("{")) {
		return nil, refuse("the signed event has no id, type or data.object")
	}
	return &stripe.Event{
		ID:      ev.ID,
		Type:    string(ev.Type),
		Created: unix(ev.Created),
		Account: ev.Account,
		Object:  append([]byte(nil), bytes.TrimSpace(ev.Data.Raw)...),
	}, nil
}

// signedAt parses the Stripe-Signature header, "t=<unix seconds>,v1=<hex>[,v1=<hex>…]", as
// strictly as stripe-go does and more: exactly one t, so that the timestamp checked here is
// the one the signature covers (stripe-go takes the last), and at least one v1.
func signedAt(header string) (time.Time, error) {
	if header == "" {
		return time.Time{}, refuse("the signature header is missing")
	}
	var t int64
	ts, sigs := 0, 0
	for _, pair := range strings.Split(header, ",") {
		kv := strings.Split(pair, "=")
		if len(kv) != 2 {
			return time.Time{}, refuse("the signature header is malformed")
		}
		switch kv[0] {
		case "t":
			n, err := strconv.ParseInt(kv[1], 10, 64)
			if err != nil || n <= 0 || n > maxTimestamp {
				return time.Time{}, refuse("the signature header's timestamp is malformed")
			}
			t = n
			ts++
		case "v1":
			sigs++
		}
	}
	if ts != 1 {
		return time.Time{}, refuse("the signature header needs exactly one timestamp")
	}
	if sigs == 0 {
		return time.Time{}, refuse("the signature header has no v1 signature")
	}
	return time.Unix(t, 0), nil
}

// SignPayload returns a Stripe-Signature header value that signs payload with secret at ts,
// as Stripe does, for tests that deliver webhook events. It is stripe-go's own test signer.
func SignPayload(payload []byte, secret string, ts time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload:   payload,
		Secret:    secret,
		Timestamp: ts,
		Scheme:    "v1",
	}).Header
}
