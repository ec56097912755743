// Package stipend holds what every part of Stipend shares: the error type and its codes.
//
// Domain packages return *Error values with one of the codes below. The HTTP edge maps each
// code to a status in one table (api/errors.go); internal details travel only in the wrapped
// error, which is logged and never returned to a client.
package stipend

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the public API: clients match on them, so they never change.
const (
	EINVALID             = "invalid"
	ENOTFOUND            = "not_found"
	EMETHODNOTALLOWED    = "method_not_allowed"
	ECONFLICT            = "conflict"
	EUNAUTHORIZED        = "unauthorized"
	EFORBIDDEN           = "forbidden"
	EINSUFFICIENTFUNDS   = "insufficient_funds"
	EIDEMPOTENCYMISMATCH = "idempotency_mismatch"
	EPAYMENTREQUIRED     = "payment_required"
	ERATELIMITED         = "rate_limited"
	ETOOLARGE            = "too_large"
	EUNAVAILABLE         = "unavailable"
	EINTERNAL            = "internal"
)

// Error is the one error type of the domain. Message is safe to show to a client; Err, if
// set, is the underlying cause and is only ever logged.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Message != "":
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	case e.Err != nil:
		return fmt.Sprintf("%s: %v", e.Code, e.Err)
	default:
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected error. Its text stays in the logs; clients see only "internal".
func Internal(err error, format string, args ...any) *Error {
	return &Error{Code: EINTERNAL, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other
// error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err, and "" for nil. Errors without a code,
// and internal errors, give a generic message so that no internal detail leaks.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL && e.Message != "" {
		return e.Message
	}
	return "An internal error occurred."
}
