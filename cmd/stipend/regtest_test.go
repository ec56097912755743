package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"

	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/regtest"
)

func TestMain(m *testing.M) { os.Exit(regtest.RunMain(m)) }

// lockedWriter lets a test read what a running command prints.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFundAndPayoutWaitOnRegtest runs "stipend fund --wait" while the payer pays the invoice
// it printed, then "stipend payout --wait" to the payee, against a server on the regtest
// network: both end with exit 0, the credit and the proof of payment.
func TestFundAndPayoutWaitOnRegtest(t *testing.T) {
	net := regtest.Shared(t)
	srv := apptest.StartLightning(t, db.SQLite, net)
	ts := &testServer{url: srv.URL, admin: srv.Admin}
	_, key := ts.createUser(t, "ln")
	env := ts.as(key)

	var stdout, stderr lockedWriter
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"fund", "21000 sat", "--wait"}, strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
	}()
	invoice := regexp.MustCompile(`lnbcrt[0-9a-z]+`)
	var bolt11 string
	for i := 0; i < 600 && bolt11 == ""; i++ {
		bolt11 = invoice.FindString(stdout.String())
		time.Sleep(50 * time.Millisecond)
	}
	if bolt11 == "" {
		t.Fatalf("fund printed no invoice:\n%s%s", stdout.String(), stderr.String())
	}
	stream, err := net.Payer.Router.SendPaymentV2(context.Background(), &routerrpc.SendPaymentRequest{PaymentRequest: bolt11, TimeoutSeconds: 30, FeeLimitSat: 10})
	if err != nil {
		t.Fatal(err)
	}
	for p, err := stream.Recv(); err == nil && p.Status != lnrpc.Payment_SUCCEEDED && p.Status != lnrpc.Payment_FAILED; p, err = stream.Recv() {
	}
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(stdout.String(), "21000 sat") {
			t.Fatalf("fund --wait: exit %d\n%s%s", code, stdout.String(), stderr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("fund --wait did not end after the invoice was paid")
	}

	inv, err := net.Payee.LN.AddInvoice(context.Background(), &lnrpc.Invoice{Value: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := ok(t, env, "payout", inv.PaymentRequest, "--wait")
	if !strings.Contains(out, "succeeded") || !regexp.MustCompile(`[0-9a-f]{64}`).MatchString(out) {
		t.Fatalf("payout --wait printed:\n%s", out)
	}
}
