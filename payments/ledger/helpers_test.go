package ledger_test

import (
	"testing"

	"github.com/stipend/stipend"
)

// wantCode fails the test unless err carries the error code want; want "" means no error.
func wantCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := stipend.ErrorCode(err); got != want {
		t.Fatalf("error code = %q, want %q (error: %v)", got, want, err)
	}
}
