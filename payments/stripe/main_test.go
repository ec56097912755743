package stripe_test

import (
	"os"
	"testing"

	"github.com/stipend/stipend/internal/stripemock"
)

// TestMain stops the shared stripe-mock, if a test started one.
func TestMain(m *testing.M) { os.Exit(stripemock.RunMain(m)) }
