package stripego

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	stripeapi "github.com/stripe/stripe-go/v76"

	"github.com/stipend/stipend"
)

// conflictCodes are Stripe's codes for a request that is well formed but does not fit the
// object's state: capturing what is not capturable, refunding what is refunded.
var conflictCodes = map[stripeapi.ErrorCode]bool{
	stripeapi.ErrorCodeIntentInvalidState:                true,
	stripeapi.ErrorCodePaymentIntentUnexpectedState:      true,
	stripeapi.ErrorCodeChargeAlreadyCaptured:             true,
	stripeapi.ErrorCodeChargeAlreadyRefunded:             true,
	stripeapi.ErrorCodeChargeExpiredForCapture:           true,
	stripeapi.ErrorCodeCaptureChargeAuthorizationExpired: true,
	stripeapi.ErrorCodeCaptureUnauthorizedPayment:        true,
	stripeapi.ErrorCodeChargeDisputed:                    true,
	stripeapi.ErrorCodeRefundDisputedPayment:             true,
	stripeapi.ErrorCodeResourceAlreadyExists:             true,
	stripeapi.ErrorCodeStatusTransitionInvalid:           true,
}

// insufficientCodes are Stripe's codes for a balance or card without the money.
var insufficientCodes = map[stripeapi.ErrorCode]bool{
	stripeapi.ErrorCodeBalanceInsufficient: true,
	stripeapi.ErrorCodeInsufficientFunds:   true,
}

// mapError turns an error of stripe-go into a *stipend.Error. The client-safe message is
// fixed per kind of failure; the wrapped error keeps Stripe's type, code, status, parameter,
// request id and message for the logs, with the API key, the webhook secret and anything that
// looks like a key or a client secret removed.
func (c *Client) mapError(err error, what string) error {
	if err == nil {
		return nil
	}
	var se *stripeapi.Error
	if !errors.As(err, &se) {
		// Not an answer from Stripe: the connection failed, timed out or was cancelled, or
		// the answer could not be read. The request may or may not have been applied; retry
		// it with the same idempotency key.
		return &stipend.Error{Code: stipend.EUNAVAILABLE, Message: "Stripe is unavailable",
			Err: fmt.Errorf("%s: %s", what, c.redact(err.Error()))}
	}
	code, msg := classify(se)
	detail := fmt.Sprintf("%s: stripe %d %s", what, se.HTTPStatusCode, se.Type)
	if se.Code != "" {
		detail += " code=" + string(se.Code)
	}
	if se.DeclineCode != "" {
		detail += " decline_code=" + string(se.DeclineCode)
	}
	if se.Param != "" {
		detail += " param=" + c.redact(se.Param)
	}
	if se.RequestID != "" {
		detail += " request=" + c.redact(se.RequestID)
	}
	// A refused key is echoed back by some servers (stripe-mock quotes the Authorization
	// header, base64-encoded): drop the message of authentication errors altogether.
	if se.Msg != "" && se.HTTPStatusCode != http.StatusUnauthorized && se.HTTPStatusCode != http.StatusForbidden {
		detail += ": " + c.redact(se.Msg)
	}
	return &stipend.Error{Code: code, Message: msg, Err: errors.New(detail)}
}

// classify picks the Stipend code and message for an error Stripe returned.
func classify(se *stripeapi.Error) (code, msg string) {
	status := se.HTTPStatusCode
	switch {
	case se.Code == stripeapi.ErrorCodeIdempotencyKeyInUse:
		// Another request with the key is still running at Stripe: its outcome is unknown, and
		// the same request is to be sent again later, not taken as refused.
		return stipend.EUNAVAILABLE, "Stripe is still working on an earlier request with this key; try again later"
	case se.Type == stripeapi.ErrorTypeIdempotency || status == http.StatusConflict:
		return stipend.ECONFLICT, "Stripe refused the request: it conflicts with an earlier one"
	case insufficientCodes[se.Code] || se.DeclineCode == stripeapi.DeclineCodeInsufficientFunds:
		return stipend.EINSUFFICIENTFUNDS, "Stripe refused the request: insufficient funds"
	case status == http.StatusNotFound || se.Code == stripeapi.ErrorCodeResourceMissing:
		return stipend.ENOTFOUND, "Stripe has no such object"
	case status == http.StatusTooManyRequests || se.Code == stripeapi.ErrorCodeRateLimit ||
		se.Code == stripeapi.ErrorCodeLockTimeout:
		return stipend.EUNAVAILABLE, "Stripe is busy; try again later"
	case status >= 500 || se.Type == stripeapi.ErrorTypeAPI:
		return stipend.EUNAVAILABLE, "Stripe is unavailable"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return stipend.EINTERNAL, "Stripe refused the platform's credentials"
	case conflictCodes[se.Code]:
		return stipend.ECONFLICT, "Stripe refused the request: the object is not in a state that allows it"
	case se.Type == stripeapi.ErrorTypeCard || status == http.StatusPaymentRequired:
		return stipend.EINVALID, "the card was declined"
	case se.Type == stripeapi.ErrorTypeInvalidRequest || status == http.StatusBadRequest:
		return stipend.EINVALID, "Stripe refused the request as invalid"
	}
	return stipend.EINTERNAL, "Stripe failed"
}

// secretPattern matches what looks like a Stripe key, a webhook secret or a client secret.
var secretPattern = regexp.MustCompile(`\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9+/=]+|_secret_[A-Za-z0-9]+|\b(?:Bearer|Basic) [A-Za-z0-9+/=._-]+`)

// redact removes the configured key and secret, and anything that looks like one, from text
// that goes into an error.
func (c *Client) redact(s string) string {
	for _, sec := range c.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return secretPattern.ReplaceAllString(s, "[redacted]")
}
