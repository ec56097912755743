package l402

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/stipend/stipend"
)

// The "Payment" HTTP authentication scheme (draft-httpauth-payment) with its "lightning"
// method and "charge" intent (draft-lightning-charge): the server offers a BOLT11 invoice in
// a challenge whose id it binds with an HMAC, the client pays and echoes the challenge with
// the preimage, and a success carries a Payment-Receipt.
const (
	SchemePayment  = "Payment"
	PaymentMethod  = "lightning"
	PaymentIntent  = "charge"
	PaymentSats    = "sat"
	HeaderReceipt  = "Payment-Receipt"
	maxPaymentCred = 16 << 10
)

// PaymentRequest is the "request" of a lightning/charge challenge. Amount is a decimal
// string of satoshis, as the method writes amounts, so that no JSON number loses precision.
// The fields are declared in the order JCS (RFC 8785) sorts their keys.
type PaymentRequest struct {
	Amount        string         `json:"amount"`
	Currency      string         `json:"currency"`
	Description   string         `json:"description,omitempty"`
	MethodDetails PaymentDetails `json:"methodDetails"`
}

// PaymentDetails are the lightning method's details of a request: the invoice, which is
// authoritative, its payment hash and its network.
type PaymentDetails struct {
	Invoice     string `json:"invoice"`
	Network     string `json:"network,omitempty"`
	PaymentHash string `json:"paymentHash,omitempty"`
}

// PaymentChallenge is one challenge of the Payment scheme.
type PaymentChallenge struct {
	ID      string
	Realm   string
	Method  string
	Intent  string
	Request PaymentRequest
	Expires time.Time
}

// EncodeRequest returns the request as base64url (unpadded) JSON in JCS form: keys in
// declaration order (which is sorted), no HTML escaping and no whitespace. That is the
// canonical form as long as the values are ASCII, as amounts, invoices, hashes and
// Stipend's descriptions are.
func (r PaymentRequest) EncodeRequest() (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return "", stipend.Internal(err, "encoding a payment request")
	}
	return base64.RawURLEncoding.EncodeToString(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// DecodePaymentRequest decodes an encoded request. Returns EINVALID.
func DecodePaymentRequest(encoded string) (PaymentRequest, error) {
	var r PaymentRequest
	raw, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil || json.Unmarshal(raw, &r) != nil {
		return PaymentRequest{}, stipend.Errorf(stipend.EINVALID, "Payment request is not base64url JSON")
	}
	return r, nil
}

// PaymentChallengeID returns the id that binds a challenge's fields to the server: the
// base64url HMAC-SHA256, under key, of realm, method, intent, the encoded request and the
// expiry as written in the challenge. Each field is length-prefixed so that moving bytes from
// one field into its neighbour changes the id. The server keeps no state per challenge: a
// presented challenge is genuine when its id recomputes.
func PaymentChallengeID(key []byte, realm, method, intent, request, expires string) string {
	mac := hmac.New(sha256.New, key)
	for _, f := range []string{realm, method, intent, request, expires} {
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
	c := &PaymentChallenge{Realm: realm, Method: PaymentMethod, Intent: PaymentIntent, Request: req, Expires: expires}
	c.ID = PaymentChallengeID(key, realm, c.Method, c.Intent, encoded, expires.Format(time.RFC3339))
	return c, nil
}

// Header returns the WWW-Authenticate value of the challenge.
func (c *PaymentChallenge) Header() (string, error) {
	encoded, err := c.Request.EncodeRequest()
	if err != nil {
		return "", err
	}
	return SchemePayment + ` id="` + c.ID + `", realm="` + c.Realm + `", method="` + c.Method + `", intent="` + c.Intent +
		`", request="` + encoded + `", expires="` + c.Expires.UTC().Format(time.RFC3339) + `"`, nil
}

// EchoedChallenge is a challenge as a client echoes it in its credential. The fields are kept
// as written, because the id is an HMAC over exactly these strings.
type EchoedChallenge struct {
	ID          string `json:"id"`
	Realm       string `json:"realm"`
	Method      string `json:"method"`
	Intent      string `json:"intent"`
	Request     string `json:"request"`
	Expires     string `json:"expires,omitempty"`
	Description string `json:"description,omitempty"`
}

// PaymentCredential is a parsed `Authorization: Payment <token>`: the echoed challenge and
// the lightning payload.
type PaymentCredential struct {
	Challenge EchoedChallenge `json:"challenge"`
	Source    string          `json:"source,omitempty"`
	Payload   struct {
		Preimage string `json:"preimage"`
	} `json:"payload"`
}

// Echo returns the challenge as a client echoes it.
func (c *PaymentChallenge) Echo() (EchoedChallenge, error) {
	encoded, err := c.Request.EncodeRequest()
	if err != nil {
		return EchoedChallenge{}, err
	}
	return EchoedChallenge{ID: c.ID, Realm: c.Realm, Method: c.Method, Intent: c.Intent, Request: encoded,
		Expires: c.Expires.UTC().Format(time.RFC3339)}, nil
}

// FormatPaymentAuthorization returns the Authorization value that presents preimage for an
// echoed challenge: "Payment " and the base64url JSON credential.
func FormatPaymentAuthorization(ch EchoedChallenge, preimage Preimage) (string, error) {
	var cred PaymentCredential
	cred.Challenge = ch
	cred.Payload.Preimage = preimage.Hex()
	b, err := json.Marshal(cred)
	if err != nil {
		return "", stipend.Internal(err, "encoding a Payment credential")
	}
	return SchemePayment + " " + base64.RawURLEncoding.EncodeToString(b), nil
}

// HasPaymentScheme reports whether an Authorization value uses the Payment scheme.
func HasPaymentScheme(value string) bool {
	scheme, _, _ := strings.Cut(strings.TrimSpace(value), " ")
	return strings.EqualFold(scheme, SchemePayment)
}

// ParsePaymentAuthorization parses one Payment credential. Errors are EINVALID and never
// quote the value.
func ParsePaymentAuthorization(value string) (*PaymentCredential, Preimage, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(value), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, SchemePayment) || token == "" || len(token) > maxPaymentCred {
		return nil, Preimage{}, stipend.Errorf(stipend.EINVALID, "not a Payment credential")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(token, "="))
	if err != nil {
		return nil, Preimage{}, stipend.Errorf(stipend.EINVALID, "Payment credential is not base64url")
	}
	var cred PaymentCredential
	if err := json.Unmarshal(raw, &cred); err != nil {
		return nil, Preimage{}, stipend.Errorf(stipend.EINVALID, "Payment credential is not a JSON object")
	}
	if cred.Challenge.ID == "" {
		return nil, Preimage{}, stipend.Errorf(stipend.EINVALID, "Payment credential does not echo a challenge id")
	}
	var pre Preimage
	if len(cred.Payload.Preimage) != hex.EncodedLen(len(pre)) {
		return nil, Preimage{}, stipend.Errorf(stipend.EINVALID, "Payment preimage must be 64 hex digits")
	}
	if _, err := hex.Decode(pre[:], []byte(cred.Payload.Preimage)); err != nil {
		return nil, Preimage{}, stipend.Errorf(stipend.EINVALID, "Payment preimage must be 64 hex digits")
	}
	return &cred, pre, nil
}

// VerifyPayment checks a Payment credential: the echoed challenge was issued under key with
// exactly these fields, it is a lightning/charge challenge, and the preimage hashes to the
// request's payment hash. It returns the request. Every refusal is
// the same EUNAUTHORIZED error. The id is compared in constant time, so that the comparison
// does not reveal how much of a forged id is right.
func VerifyPayment(key []byte, cred *PaymentCredential, preimage Preimage, now time.Time) (PaymentRequest, Hash, error) {
	no := stipend.Errorf(stipend.EUNAUTHORIZED, "invalid Payment credential")
	ch := cred.Challenge
	want := PaymentChallengeID(key, ch.Realm, ch.Method, ch.Intent, ch.Request, ch.Expires)
	if !hmac.Equal([]byte(ch.ID), []byte(want)) || ch.Method != PaymentMethod || ch.Intent != PaymentIntent {
		return PaymentRequest{}, Hash{}, no
	}
	// The expiry is bound by the id but not enforced here: it bounds when the invoice can be
	// paid, and a preimage proves it was paid. A payer who paid at the last moment, or whose
	// call was refunded, can still present the credential after the challenge expired.
	if _, err := time.Parse(time.RFC3339, ch.Expires); err != nil {
		return PaymentRequest{}, Hash{}, no
	}
	req, err := DecodePaymentRequest(ch.Request)
	if err != nil {
		return PaymentRequest{}, Hash{}, no
	}
	hash, err := ParseHash(req.MethodDetails.PaymentHash)
	if err != nil {
		return PaymentRequest{}, Hash{}, no
	}
	got := preimage.Hash()
	if !hmac.Equal(got[:], hash[:]) {
		return PaymentRequest{}, Hash{}, no
	}
	return req, hash, nil
}

// Receipt is the JSON of a Payment-Receipt header. Reference is the payment hash for a
// Lightning payment (never the preimage) or the call id for credits.
type Receipt struct {
	ChallengeID string `json:"challengeId,omitempty"`
	Method      string `json:"method"`
	Reference   string `json:"reference"`
	Status      string `json:"status"`
	Timestamp   string `json:"timestamp"`
}

// EncodeReceipt returns the header value of r: base64url (unpadded) JSON with sorted keys.
func EncodeReceipt(r Receipt) string {
	if r.Status == "" {
		r.Status = "success"
	}
	b, _ := json.Marshal(r) // plain strings cannot fail to encode
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeReceipt parses a Payment-Receipt header value. Returns EINVALID.
func DecodeReceipt(v string) (Receipt, error) {
	var r Receipt
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || json.Unmarshal(raw, &r) != nil {
		return Receipt{}, stipend.Errorf(stipend.EINVALID, "Payment-Receipt is not base64url JSON")
	}
	return r, nil
}
