package lnd_test

import (
	"os"
	"testing"

	"github.com/stipend/stipend/internal/regtest"
)

// The tests of this package run against one shared regtest network.
func TestMain(m *testing.M) { os.Exit(regtest.RunMain(m)) }
