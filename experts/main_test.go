package experts_test

import (
	"os"
	"testing"

	"github.com/stipend/stipend/internal/regtest"
)

// TestMain stops the package's regtest network, which the Lightning escrow tests start.
func TestMain(m *testing.M) { os.Exit(regtest.RunMain(m)) }
