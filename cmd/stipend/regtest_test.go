package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/invoicesrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/internal/apptest"
	"github.com/stipend/stipend/internal/config"
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
	bolt11 := printedInvoice(t, &stdout, &stderr)
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

// printedInvoice waits for a running command to print a regtest BOLT11 invoice, and returns it.
func printedInvoice(t *testing.T, stdout, stderr *lockedWriter) string {
	t.Helper()
	invoice := regexp.MustCompile(`lnbcrt[0-9a-z]+`)
	for range 600 {
		if bolt11 := invoice.FindString(stdout.String()); bolt11 != "" {
			return bolt11
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the command printed no invoice:\n%s%s", stdout.String(), stderr.String())
	return ""
}

// paymentResult is how a payment from the payer node ended.
type paymentResult struct {
	payment *lnrpc.Payment
	err     error
}

// payInBackground pays bolt11 from the payer node and reports how the payment ended. A hold
// invoice's payment ends only when the invoice is settled or cancelled, so it must not block
// the test; nor may it call t once the test may have ended, hence the channel.
func payInBackground(ctx context.Context, payer *regtest.Node, bolt11 string) <-chan paymentResult {
	out := make(chan paymentResult, 1)
	go func() {
		stream, err := payer.Router.SendPaymentV2(ctx, &routerrpc.SendPaymentRequest{PaymentRequest: bolt11, TimeoutSeconds: 60, FeeLimitSat: 10})
		if err != nil {
			out <- paymentResult{err: err}
			return
		}
		for {
			p, err := stream.Recv()
			if err != nil {
				out <- paymentResult{err: err}
				return
			}
			if p.Status == lnrpc.Payment_SUCCEEDED || p.Status == lnrpc.Payment_FAILED {
				out <- paymentResult{payment: p}
				return
			}
		}
	}()
	return out
}

// TestAskLightningOnRegtest runs "stipend ask --lightning --wait" while the payer pays the
// hold invoice it printed: the command exits 0 once the platform's node holds the payment and
// the question is open. The expert's answer settles the invoice, so the payer's payment, in
// flight until then, succeeds, and the answer shows the price split into the platform fee, the
// charity's share and the expert's earnings, which the expert's balance then holds.
func TestAskLightningOnRegtest(t *testing.T) {
	net := regtest.Shared(t)
	srv := apptest.StartLightning(t, db.SQLite, net)
	ts := &testServer{url: srv.URL, admin: srv.Admin}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ok(t, ts.as(ts.admin), "admin", "charity", "create", "--handle", "eff", "--name", "Electronic Frontier Foundation",
		"--receipt", "EFF, 815 Eddy St, San Francisco, CA 94109", "--lightning", "donate@eff.org")
	expert, expertKey := ts.createUser(t, "kay")
	_, askerKey := ts.createUser(t, "asker")
	ok(t, ts.as(expertKey), "expert", "set", "--name", "Kay", "--price", "2000 sat", "--window", "1h", "--charity", "eff", "--charity-share", "20%")
	asker := ts.as(askerKey)

	var stdout, stderr lockedWriter
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"ask", expert.Handle, "How do I drain a node?", "--lightning", "--wait"}, strings.NewReader(""), &stdout, &stderr,
			func(k string) string { return asker[k] })
	}()
	bolt11 := printedInvoice(t, &stdout, &stderr)
	wantLines(t, "ask --lightning", stdout.String(), `^status\s+awaiting_payment$`, `^price\s+2000 sat, held by a Lightning hold invoice \(open: not paid yet\)$`,
		`^invoice\s+`+bolt11+`$`)
	hash := regexp.MustCompile(`(?m)^payment hash\s+([0-9a-f]{64})$`).FindStringSubmatch(stdout.String())
	if hash == nil {
		t.Fatalf("ask --lightning shows no payment hash:\n%s", stdout.String())
	}
	// Should the test fail with the payment held, cancelling the invoice fails it back, so that
	// the payer's channel, which the other tests share, is not left with an HTLC in flight.
	t.Cleanup(func() {
		h, _ := hex.DecodeString(hash[1])
		net.Platform.Invoices.CancelInvoice(context.Background(), &invoicesrpc.CancelInvoiceMsg{PaymentHash: h})
	})
	paid := payInBackground(ctx, net.Payer, bolt11)

	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("ask --lightning --wait: exit %d\n%s%s", code, stdout.String(), stderr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("ask --lightning --wait did not end after the invoice was paid:\n%s%s", stdout.String(), stderr.String())
	}
	wantLines(t, "ask --lightning --wait", stdout.String(), `^status\s+open$`, `^price\s+2000 sat, held by a Lightning hold invoice \(accepted\)$`)
	if !strings.Contains(stderr.String(), "taken only if the expert answers") {
		t.Fatalf("ask --lightning --wait does not say what happens to the payment:\n%s", stderr.String())
	}
	q := questionID(t, stdout.String())

	out := ok(t, asker, "question", q)
	wantLines(t, "question", out, `^status\s+open$`, `^price\s+2000 sat, held by a Lightning hold invoice \(accepted\)$`, `^payment hash\s+`+hash[1]+`$`)
	if strings.Contains(out, "lnbcrt") {
		t.Fatalf("question shows the invoice of a question that is paid:\n%s", out)
	}
	wantLines(t, "questions", ok(t, asker, "questions"), q+`\s+open\s+2000 sat\s+lightning \(accepted\)\s`)

	// fee 2000 × 2.5 % = 50; charity (2000 − 50) × 20 % = 390; the expert keeps 1560.
	out = ok(t, ts.as(expertKey), "answer", q, "kubectl drain --ignore-daemonsets")
	wantLines(t, "answer", out, `^status\s+answered$`, `^price\s+2000 sat, held by a Lightning hold invoice \(settled\)$`,
		`^paid\s+expert 1560 sat, charity 390 sat, platform fee 50 sat$`)
	select {
	case r := <-paid:
		if r.err != nil || r.payment.Status != lnrpc.Payment_SUCCEEDED || r.payment.ValueSat != 2000 {
			t.Fatalf("the payer's payment ended %+v, %v; want it to succeed for 2000 sat", r.payment, r.err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the payer's payment did not end after the answer settled the invoice")
	}
	if got := ts.availableOf(t, expertKey, expert.ID, "BTC"); got != 1_560_000 {
		t.Fatalf("the expert has %d msat, want the earnings, 1560000", got)
	}
}

// TestPayOnRegtest runs "stipend pay" against a provider's endpoint on the regtest network,
// paying from the payer's own lnd: the first run pays the 402's invoice and prints the
// upstream's answer, the receipt names the payment hash, and the provider is credited the
// price less the fee; a second run of a single-use route pays again, and a price above
// --max-price pays nothing.
func TestPayOnRegtest(t *testing.T) {
	net := regtest.Shared(t)
	srv := apptest.StartLightning(t, db.SQLite, net, apptest.WithPaywall(config.Paywall{PrivateUpstreams: true}))
	ts := &testServer{url: srv.URL, admin: srv.Admin}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "forecast for "+r.URL.Path)
	}))
	t.Cleanup(up.Close)
	provider, providerKey := ts.createUser(t, "lnprovider")
	body, _ := json.Marshal(wire.CreateEndpointRequest{Name: "Forecasts", Upstream: up.URL, PathPattern: "/v1/*",
		Price: wire.MoneyRequest{Amount: 42_000, Asset: "BTC"}})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/endpoints", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+providerKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ep wire.Endpoint
	err = json.NewDecoder(resp.Body).Decode(&ep)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("registering the endpoint: %s %v", resp.Status, err)
	}
	p := net.Payer
	env := map[string]string{"STIPEND_SERVER": srv.URL, "STIPEND_STATE_DIR": t.TempDir(),
		"STIPEND_PAY_LND_HOST": p.RPCAddr, "STIPEND_PAY_LND_TLS_CERT": p.TLSCertPath, "STIPEND_PAY_LND_MACAROON": p.MacaroonPath,
		"STIPEND_PAY_LND_NETWORK": "regtest"}
	url := ep.URL + "v1/forecast"
	for range 2 {
		r := runCLI(t, env, "pay", "--max-price", "42 sat", url)
		if r.code != 0 || r.stdout != "forecast for /v1/forecast" {
			t.Fatalf("stipend pay: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
		}
		if !regexp.MustCompile(`[0-9a-f]{64}`).MatchString(r.stderr) || !strings.Contains(r.stderr, "42 sat") {
			t.Fatalf("stipend pay did not report the payment and its receipt:\n%s", r.stderr)
		}
	}
	r := runCLI(t, env, "pay", "--max-price", "41 sat", url)
	if r.code == 0 || !strings.Contains(r.stderr, "above the maximum") {
		t.Fatalf("a price above --max-price: exit %d\n%s", r.code, r.stderr)
	}
	want := int64(2 * (42_000 - 42_000*apptest.FeeBPS/10_000))
	if got := ts.availableOf(t, providerKey, provider.ID, "BTC"); got != want {
		t.Fatalf("provider has %d msat, want %d for two calls", got, want)
	}
}
