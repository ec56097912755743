package stripego_test

import (
	"os"
	"testing"

	"github.com/stipend/stipend/internal/stripemock"
)

// The tests of this package that talk to Stripe run against one shared stripe-mock.
func TestMain(m *testing.M) { os.Exit(stripemock.RunMain(m)) }
