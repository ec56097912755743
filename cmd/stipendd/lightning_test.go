package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/invoicesrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/regtest"
	"github.com/stipend/stipend/payments/lightning"
)

// daemon is a stipendd process started by a test.
type daemon struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	addr string
}

// startDaemon starts stipendd as its own process with the given environment, so that the
// test can kill it as abruptly as a crash would.
func startDaemon(t *testing.T, env []string) *daemon {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append([]string{"STIPENDD_TEST_AS_MAIN=1", "PATH=" + os.Getenv("PATH"), "STIPEND_LISTEN=" + addr}, env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, out: out, addr: addr}
	t.Cleanup(func() { d.kill() })
	if !waitHealthy(t, addr, time.Now().Add(60*time.Second)) {
		d.kill()
		t.Fatalf("stipendd did not start:\n%s", out.String())
	}
	return d
}

func (d *daemon) kill() {
	if d.cmd.ProcessState == nil {
		d.cmd.Process.Signal(syscall.SIGKILL)
		d.cmd.Wait()
	}
}

// call sends one API request and decodes the answer into out.
func (d *daemon) call(t *testing.T, method, path, key string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+d.addr+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("%s-%d", path, time.Now().UnixNano()))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %s", method, path, b)
		}
	} else if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 1200; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestLightningThroughTheServer runs stipendd against the regtest network: an account is
// funded by invoice and credited once, pays out to the payee, survives a kill -9 while a
// payout is in flight, and reconciles with lnd, which then reports a payment made behind its
// back.
func TestLightningThroughTheServer(t *testing.T) {
	net := regtest.Shared(t)
	ctx := context.Background()
	env := []string{
		"HOME=" + t.TempDir(),
		"STIPEND_DATABASE_URL=" + dbtest.URL(t, db.Postgres),
		"STIPEND_DATABASE_MAX_CONNS=6",
		"STIPEND_LND_HOST=" + net.Platform.RPCAddr,
		"STIPEND_LND_TLS_CERT=" + net.Platform.TLSCertPath,
		"STIPEND_LND_MACAROON=" + net.Platform.MacaroonPath,
		"STIPEND_LND_NETWORK=regtest",
		"STIPEND_JOB_LEASE=2s",
	}
	d := startDaemon(t, env)
	admin := regexp.MustCompile(`stp_[a-z2-7]{52}`).FindString(d.out.String())
	var acct wire.Account
	if d.call(t, "POST", "/v1/accounts", admin, wire.CreateAccountRequest{Kind: "user", Handle: "ada", Name: "Ada"}, &acct) != 201 {
		t.Fatal("creating an account")
	}
	var key wire.CreatedKey
	d.call(t, "POST", "/v1/keys", admin, wire.CreateKeyRequest{AccountID: acct.ID, Name: "k"}, &key)
	balance := func() int64 {
		var b wire.Balances
		d.call(t, "GET", "/v1/balances", key.Secret, nil, &b)
		for _, x := range b.Data {
			if x.Asset == "BTC" {
				return x.Available
			}
		}
		return 0
	}

	// Funding: an invoice, paid by the payer, credited once.
	var f wire.Funding
	if d.call(t, "POST", "/v1/fundings", key.Secret, wire.CreateFundingRequest{Amount: 50_000_000, Asset: "BTC"}, &f) != 201 {
		t.Fatal("creating a funding")
	}
	stream, err := net.Payer.Router.SendPaymentV2(ctx, &routerrpc.SendPaymentRequest{PaymentRequest: f.Invoice, TimeoutSeconds: 30, FeeLimitSat: 10})
	if err != nil {
		t.Fatal(err)
	}
	for p, err := stream.Recv(); err == nil && p.Status != lnrpc.Payment_SUCCEEDED; p, err = stream.Recv() {
		if p.Status == lnrpc.Payment_FAILED {
			t.Fatalf("the payer could not pay: %s", p.FailureReason)
		}
	}
	eventually(t, "the funding's credit", func() bool { return balance() == 50_000_000 })

	// A payout of 1,000 sat to the payee's invoice.
	inv, err := net.Payee.LN.AddInvoice(ctx, &lnrpc.Invoice{Value: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var po wire.Payout
	if d.call(t, "POST", "/v1/payouts", key.Secret, wire.CreatePayoutRequest{Destination: inv.PaymentRequest}, &po) != 201 {
		t.Fatal("requesting a payout")
	}
	eventually(t, "the payout", func() bool {
		d.call(t, "GET", "/v1/payouts/"+po.ID, key.Secret, nil, &po)
		return po.Status == "succeeded"
	})
	if po.Proof == "" || balance() != 49_000_000 {
		t.Fatalf("payout %+v, balance %d", po, balance())
	}

	// A payout to a hold invoice stays in flight; stipendd is killed, the payee takes the
	// money, and a new stipendd finishes the payout: one final state, one payment.
	preimage, hash, err := lightning.NewPreimage()
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := hex.DecodeString(hash)
	hold, err := net.Payee.Invoices.AddHoldInvoice(ctx, &invoicesrpc.AddHoldInvoiceRequest{Hash: hb, Value: 2000, Expiry: 3600, CltvExpiry: 80})
	if err != nil {
		t.Fatal(err)
	}
	var held wire.Payout
	d.call(t, "POST", "/v1/payouts", key.Secret, wire.CreatePayoutRequest{Destination: hold.PaymentRequest}, &held)
	eventually(t, "the payee to hold the payment", func() bool {
		i, err := net.Payee.LN.LookupInvoice(ctx, &lnrpc.PaymentHash{RHash: hb})
		return err == nil && i.State == lnrpc.Invoice_ACCEPTED
	})
	d.call(t, "GET", "/v1/payouts/"+held.ID, key.Secret, nil, &held)
	if held.Status != "in_flight" {
		t.Fatalf("held payout is %s, want in_flight", held.Status)
	}
	d.kill()
	pb, _ := hex.DecodeString(preimage)
	if _, err := net.Payee.Invoices.SettleInvoice(ctx, &invoicesrpc.SettleInvoiceMsg{Preimage: pb}); err != nil {
		t.Fatal(err)
	}
	d = startDaemon(t, env)
	eventually(t, "the payout after the restart", func() bool {
		d.call(t, "GET", "/v1/payouts/"+held.ID, key.Secret, nil, &held)
		return held.Status == "succeeded"
	})
	if held.Proof != preimage || balance() != 47_000_000 {
		t.Fatalf("payout after restart %+v, balance %d", held, balance())
	}
	payments, err := net.Platform.LN.ListPayments(ctx, &lnrpc.ListPaymentsRequest{IncludeIncomplete: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range payments.Payments {
		if p.PaymentHash == hash {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("lnd holds %d payments of the held payout, want 1", n)
	}

	// Reconciliation agrees with lnd, until something is paid behind the ledger's back.
	getenv := func(k string) string {
		for _, kv := range env {
			if name, v, _ := strings.Cut(kv, "="); name == k {
				return v
			}
		}
		return ""
	}
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"reconcile"}, &out, &errOut, getenv); code != 0 || !strings.Contains(out.String(), "no differences") {
		t.Fatalf("reconcile: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	rogue, err := net.Payee.LN.AddInvoice(ctx, &lnrpc.Invoice{Value: 777})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := net.Platform.Router.SendPaymentV2(ctx, &routerrpc.SendPaymentRequest{PaymentRequest: rogue.PaymentRequest, TimeoutSeconds: 30})
	if err != nil {
		t.Fatal(err)
	}
	for p, err := rs.Recv(); err == nil && p.Status != lnrpc.Payment_SUCCEEDED; p, err = rs.Recv() {
	}
	out.Reset()
	if code := run(ctx, []string{"reconcile"}, &out, &errOut, getenv); code == 0 || !strings.Contains(out.String(), "no payout accounts for") {
		t.Fatalf("reconcile after a rogue payment: exit %d\n%s", code, out.String())
	}
}
