package stipend_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stipend/stipend"
)

// genericMessage is what a client sees for any error whose detail must stay in the logs.
const genericMessage = "An internal error occurred."

func TestErrorCode(t *testing.T) {
	t.Parallel()
	notFound := stipend.Errorf(stipend.ENOTFOUND, "no account %s", "acct_1")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"an Error", notFound, stipend.ENOTFOUND},
		{"every code survives", stipend.Errorf(stipend.EIDEMPOTENCYMISMATCH, "x"), stipend.EIDEMPOTENCYMISMATCH},
		{"wrapped with %w", fmt.Errorf("loading: %w", notFound), stipend.ENOTFOUND},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", notFound)), stipend.ENOTFOUND},
		{"joined with a plain error", errors.Join(errors.New("plain"), notFound), stipend.ENOTFOUND},
		// The first code in the chain wins: an outer Error decides what the client is told.
		{"an Error wrapping another", &stipend.Error{Code: stipend.ECONFLICT, Err: notFound}, stipend.ECONFLICT},
		{"Internal wrapping an Error", stipend.Internal(notFound, "loading"), stipend.EINTERNAL},
		// An error nobody classified is a bug until proven otherwise.
		{"plain error", errors.New("disk full"), stipend.EINTERNAL},
		{"context canceled", context.Canceled, stipend.EINTERNAL},
		{"plain error wrapping a plain error", fmt.Errorf("x: %w", errors.New("y")), stipend.EINTERNAL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := stipend.ErrorCode(tc.err); got != tc.want {
				t.Fatalf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"an Error", stipend.Errorf(stipend.EINVALID, "amount: must be positive"), "amount: must be positive"},
		{"formatted", stipend.Errorf(stipend.ENOTFOUND, "no account %s", "acct_1"), "no account acct_1"},
		{"wrapped with %w", fmt.Errorf("handler: %w", stipend.Errorf(stipend.ECONFLICT, "handle taken")), "handle taken"},
		// The cause of a coded error is for the logs; only its message reaches the client.
		{"an Error with a cause", &stipend.Error{Code: stipend.ENOTFOUND, Message: "no account", Err: errors.New("sql: no rows in result set")}, "no account"},
		{"an Error without a message", &stipend.Error{Code: stipend.EINVALID}, genericMessage},
		{"plain error", errors.New("pq: password authentication failed for user stipend"), genericMessage},
		{"Internal", stipend.Internal(errors.New("dial tcp 10.0.0.5:5432: connection refused"), "loading account %s", "acct_1"), genericMessage},
		{"Errorf with the internal code", stipend.Errorf(stipend.EINTERNAL, "secret detail"), genericMessage},
		// Internal decides even when what it wraps carries a client message of its own.
		{"Internal wrapping an Error", stipend.Internal(stipend.Errorf(stipend.EINVALID, "inner detail"), "outer detail"), genericMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := stipend.ErrorMessage(tc.err); got != tc.want {
				t.Fatalf("ErrorMessage(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestErrorMessageNeverLeaksAnInternalCause(t *testing.T) {
	t.Parallel()
	const secret = "postgres://stipend:hunter2@db.internal/stipend"
	errs := []error{
		stipend.Internal(errors.New(secret), "connecting"),
		stipend.Internal(errors.New("connecting"), "%s", secret),
		fmt.Errorf("wrapped: %w", stipend.Internal(errors.New(secret), "%s", secret)),
		&stipend.Error{Code: stipend.EINVALID, Err: errors.New(secret)},
		&stipend.Error{Code: stipend.EUNAVAILABLE, Message: "the database is unavailable", Err: errors.New(secret)},
		errors.New(secret),
	}
	for _, err := range errs {
		if msg := stipend.ErrorMessage(err); strings.Contains(msg, "hunter2") || strings.Contains(msg, "db.internal") {
			t.Errorf("ErrorMessage(%v) = %q leaks the internal detail", err, msg)
		}
		// The log line, on the other hand, must keep the cause for whoever debugs it.
		if !strings.Contains(err.Error(), secret) {
			t.Errorf("Error() = %q lost the cause", err.Error())
		}
	}
}

func TestErrorErrorShowsCodeMessageAndCause(t *testing.T) {
	t.Parallel()
	cause := errors.New("connection refused")
	tests := []struct {
		err  *stipend.Error
		want string
	}{
		{&stipend.Error{Code: stipend.EINVALID, Message: "bad amount"}, "invalid: bad amount"},
		{&stipend.Error{Code: stipend.EINTERNAL, Err: cause}, "internal: connection refused"},
		{&stipend.Error{Code: stipend.EINTERNAL, Message: "loading", Err: cause}, "internal: loading: connection refused"},
		{&stipend.Error{Code: stipend.ENOTFOUND}, "not_found: "},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestErrorUnwrapsToItsCause(t *testing.T) {
	t.Parallel()
	err := stipend.Internal(context.DeadlineExceeded, "posting")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("errors.Is does not find the cause of an internal error")
	}
	if errors.Unwrap(stipend.Errorf(stipend.EINVALID, "x")) != nil {
		t.Fatal("an Error without a cause unwraps to something")
	}
}

func TestErrorfAndInternalFormatTheirMessage(t *testing.T) {
	t.Parallel()
	e := stipend.Errorf(stipend.EINVALID, "%s: at most %d", "memo", 500)
	if e.Code != stipend.EINVALID || e.Message != "memo: at most 500" || e.Err != nil {
		t.Fatalf("Errorf = %#v", e)
	}
	cause := errors.New("boom")
	i := stipend.Internal(cause, "step %d", 3)
	if i.Code != stipend.EINTERNAL || i.Message != "step 3" || i.Err != cause {
		t.Fatalf("Internal = %#v", i)
	}
}
