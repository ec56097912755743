package stripemock

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

// shared is the one stripe-mock of a test binary.
var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Shared returns the test binary's stripe-mock, building and starting it on first use. The
// package's TestMain must end with RunMain, which stops it. There is no skipping: a
// stripe-mock that cannot start fails the tests.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() {
		// The first build downloads stripe-mock's module and compiles it: seconds on an idle
		// machine, minutes on a busy one.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		shared.srv, shared.err = Start(ctx, Options{Log: os.Stderr})
	})
	if shared.err != nil {
		t.Fatalf("starting stripe-mock: %v", shared.err)
	}
	if shared.srv.Exited() {
		t.Fatalf("stripe-mock has exited:\n%s", shared.srv.tail.String())
	}
	return shared.srv
}

// RunMain runs a test package's tests and then stops its shared stripe-mock, if one was
// started, also when tests failed. Use it as:
//
//	func TestMain(m *testing.M) { os.Exit(stripemock.RunMain(m)) }
func RunMain(m interface{ Run() int }) int {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Close()
	}
	return code
}
