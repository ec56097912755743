package l402

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/stipend/stipend"
)

// PaymentRequest is the method-specific "request" of a Payment challenge with method
// "lightning" and intent "charge". Amount is a decimal string in the currency's base unit, as
// the draft writes amounts, so that no JSON number ever loses precision.
type PaymentRequest struct {
	Amount      string `json:"amount"`
	Currency    string `json:"currency"`
	Invoice     string `json:"invoice"`
	PaymentHash string `json:"payment_hash"`
}

// PaymentChallenge is one challenge of the IETF "Payment" HTTP authentication scheme.
type PaymentChallenge struct {
	ID      string
	Realm   string
	Method  string
	Intent  string
	Request PaymentRequest
	Expires time.Time
}

// EncodeRequest returns the request as base64url (unpadded) JSON. The fields are declared in
// key order, strings are not HTML-escaped and there is no whitespace, which is the JCS
// (RFC 8785) form the draft asks for as long as the values are ASCII, as invoices, hashes and
// currency codes are.
func (r PaymentRequest) EncodeRequest() (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return "", stipend.Internal(err, "encoding a payment request")
	}
	return base64.RawURLEncoding.EncodeToString(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// PaymentChallengeID returns the id that binds a challenge's fields to the server: the
// base64url HMAC-SHA256, under key, of realm, method, intent, the encoded request and the
// expiry. Each field is length-prefixed so that moving bytes from one field into its
// neighbour changes the id. The server keeps no state per challenge: a presented challenge
// is genuine when its id recomputes.
func PaymentChallengeID(key []byte, realm, method, intent, request string, expires time.Time) string {
	mac := hmac.New(sha256.New, key)
	for _, f := range []string{realm, method, intent, request, expires.UTC().Format(time.RFC3339)} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		mac.Write(n[:])
		mac.Write([]byte(f))
	}
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// NewPaymentChallenge returns a lightning/charge challenge for an invoice, with its id.
func NewPaymentChallenge(key []byte, realm string, req PaymentRequest, expires time.Time) (*PaymentChallenge, error) {
	encoded, err := req.EncodeRequest()
	if err != nil {
		return nil, err
	}
	expires = expires.UTC().Truncate(time.Second)
	c := &PaymentChallenge{Realm: realm, Method: "lightning", Intent: "charge", Request: req, Expires: expires}
	c.ID = PaymentChallengeID(key, realm, c.Method, c.Intent, encoded, expires)
	return c, nil
}

// Header returns the WWW-Authenticate value of the challenge.
func (c *PaymentChallenge) Header() (string, error) {
	encoded, err := c.Request.EncodeRequest()
	if err != nil {
		return "", err
	}
	return `Payment id="` + c.ID + `", realm="` + c.Realm + `", method="` + c.Method + `", intent="` + c.Intent +
		`", request="` + encoded + `", expires="` + c.Expires.UTC().Format(time.RFC3339) + `"`, nil
}

// VerifyPaymentChallenge checks that a challenge presented back by a client was issued by us
// with exactly these fields and has not expired. The id is compared in constant time, so
// that the comparison does not reveal how much of a forged id is right. Every failure is the
// same EUNAUTHORIZED error.
func VerifyPaymentChallenge(key []byte, id, realm, method, intent, request string, expires, now time.Time) error {
	want := PaymentChallengeID(key, realm, method, intent, request, expires)
	if !hmac.Equal([]byte(id), []byte(want)) || !now.Before(expires) {
		return stipend.Errorf(stipend.EUNAUTHORIZED, "invalid Payment challenge")
	}
	return nil
}
