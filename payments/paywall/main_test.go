package paywall_test

import (
	"os"
	"testing"

	"github.com/stipend/stipend/internal/regtest"
)

// TestMain stops the shared regtest network, if a test started one, when the tests end.
func TestMain(m *testing.M) { os.Exit(regtest.RunMain(m)) }
