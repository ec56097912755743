package stripego

import (
	"net/http"
	"testing"

	stripeapi "github.com/stripe/stripe-go/v76"

	"github.com/stipend/stipend"
)

// TestClassify pins the code each kind of Stripe error becomes, since callers decide from it
// whether a request was refused for good (and money may be given back) or has an unknown
// outcome (and must be sent again with the same key).
func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  stripeapi.Error
		want string
	}{
		{"a key still in use is an unknown outcome", stripeapi.Error{HTTPStatusCode: http.StatusConflict, Type: stripeapi.ErrorTypeIdempotency,
			Code: stripeapi.ErrorCodeIdempotencyKeyInUse}, stipend.EUNAVAILABLE},
		{"a key reused for another request", stripeapi.Error{HTTPStatusCode: http.StatusBadRequest, Type: stripeapi.ErrorTypeIdempotency}, stipend.ECONFLICT},
		{"a refund of a refunded charge", stripeapi.Error{HTTPStatusCode: http.StatusBadRequest, Type: stripeapi.ErrorTypeInvalidRequest,
			Code: stripeapi.ErrorCodeChargeAlreadyRefunded}, stipend.ECONFLICT},
		{"a bad parameter", stripeapi.Error{HTTPStatusCode: http.StatusBadRequest, Type: stripeapi.ErrorTypeInvalidRequest}, stipend.EINVALID},
		{"a declined card", stripeapi.Error{HTTPStatusCode: http.StatusPaymentRequired, Type: stripeapi.ErrorTypeCard}, stipend.EINVALID},
		{"no such object", stripeapi.Error{HTTPStatusCode: http.StatusNotFound, Type: stripeapi.ErrorTypeInvalidRequest}, stipend.ENOTFOUND},
		{"the platform balance is short", stripeapi.Error{HTTPStatusCode: http.StatusBadRequest, Type: stripeapi.ErrorTypeInvalidRequest,
			Code: stripeapi.ErrorCodeBalanceInsufficient}, stipend.EINSUFFICIENTFUNDS},
		{"rate limited", stripeapi.Error{HTTPStatusCode: http.StatusTooManyRequests}, stipend.EUNAVAILABLE},
		{"Stripe failed", stripeapi.Error{HTTPStatusCode: http.StatusInternalServerError, Type: stripeapi.ErrorTypeAPI}, stipend.EUNAVAILABLE},
		{"a bad API key", stripeapi.Error{HTTPStatusCode: http.StatusUnauthorized, Type: stripeapi.ErrorTypeInvalidRequest}, stipend.EINTERNAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got, _ := classify(&tc.err); got != tc.want {
				t.Fatalf("classify = %s, want %s", got, tc.want)
			}
		})
	}
}
