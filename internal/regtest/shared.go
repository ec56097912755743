package regtest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

// shared is the one network of a test package: starting three lnd nodes takes seconds, so the
// tests of a package share them.
var shared struct {
	once sync.Once
	net  *Network
	err  error
}

// Shared returns the test package's network, starting it on first use. The package's
// TestMain must end with RunMain, which stops it. There is no skipping: the Lightning tests
// are real, and a network that cannot start fails them.
func Shared(t testing.TB) *Network {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
		defer cancel()
		shared.net, shared.err = Start(ctx, Options{Log: os.Stderr})
	})
	if shared.err != nil {
		t.Fatalf("starting the regtest network: %v", shared.err)
	}
	return shared.net
}

// RunMain runs a test package's tests and then stops its shared network, if one was started,
// also when tests failed. Use it as: func TestMain(m *testing.M) { os.Exit(regtest.RunMain(m)) }.
func RunMain(m *testing.M) int {
	code := m.Run()
	if shared.net != nil {
		shared.net.Close()
	}
	return code
}
