package lnd_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/regtest"
	"github.com/stipend/stipend/payments/lightning"
)

// TestSettledInvoicesAreSeenOnceAcrossResubscriptions pays invoices of the platform and
// follows their settlement; a subscription resumed from the last settle index it saw gets
// only what settled after it, so that a restart neither loses nor repeats a settlement.
func TestSettledInvoicesAreSeenOnceAcrossResubscriptions(t *testing.T) {
	net := regtest.Shared(t)
	ctx := ctxFor(t, 3*time.Minute)
	platform := net.Platform.Client(t)
	payer := net.Payer.Client(t)

	start, err := platform.ListInvoices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var lastIndex uint64
	for _, inv := range start {
		lastIndex = max(lastIndex, inv.SettleIndex)
	}
	pay := func(amount int64) *lightning.Invoice {
		t.Helper()
		inv, err := platform.AddInvoice(ctx, lightning.InvoiceRequest{AmountMsat: amount, Memo: "funding", Expiry: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		p, err := payer.SendPayment(ctx, lightning.PaymentRequest{Invoice: inv.PaymentRequest, FeeLimitMsat: 10_000, Timeout: 30 * time.Second})
		if err != nil || p.Status != lightning.PaymentSucceeded {
			t.Fatalf("paying the platform: %+v, %v", p, err)
		}
		return inv
	}
	first := pay(21_000)
	second := pay(42_000)

	subCtx, cancel := context.WithCancel(ctx)
	updates, _, err := platform.SubscribeSettled(subCtx, lastIndex)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]lightning.InvoiceUpdate{}
	for len(got) < 2 {
		select {
		case u := <-updates:
			got[u.Hash] = u
		case <-ctx.Done():
			t.Fatal("settlements were not delivered")
		}
	}
	cancel()
	if got[first.Hash].AmountPaidMsat != 21_000 || got[second.Hash].AmountPaidMsat != 42_000 {
		t.Fatalf("settlements = %+v", got)
	}
	resumeFrom := max(got[first.Hash].SettleIndex, got[second.Hash].SettleIndex)

	// The subscription is "restarted" from the index it recorded: only new settlements come.
	third := pay(7_000)
	updates, _, err = platform.SubscribeSettled(ctx, resumeFrom)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-updates:
		if u.Hash != third.Hash || u.SettleIndex <= resumeFrom {
			t.Fatalf("resumed subscription delivered %+v, want only the third invoice", u)
		}
	case <-ctx.Done():
		t.Fatal("the settlement after the restart was not delivered")
	}
}

// TestHoldInvoiceIsAcceptedThenSettledOrCanceled locks the payer's HTLC in a hold invoice:
// ACCEPTED is seen with the HTLC's expiry; settling completes the payer's payment; cancelling
// a second one fails it, and the payer's channel balance returns.
func TestHoldInvoiceIsAcceptedThenSettledOrCanceled(t *testing.T) {
	net := regtest.Shared(t)
	ctx := ctxFor(t, 3*time.Minute)
	platform := net.Platform.Client(t)
	payer := net.Payer.Client(t)

	hold := func() (preimage, hash string, inv *lightning.Invoice, result chan *lightning.Payment) {
		t.Helper()
		preimage, hash, err := lightning.NewPreimage()
		if err != nil {
			t.Fatal(err)
		}
		inv, err = platform.AddHoldInvoice(ctx, lightning.HoldInvoiceRequest{Hash: hash, AmountMsat: 50_000, Memo: "question", Expiry: time.Hour, CltvExpiry: 80})
		if err != nil {
			t.Fatal(err)
		}
		updates, _, err := platform.SubscribeInvoice(ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		result = make(chan *lightning.Payment, 1)
		go func() {
			p, err := payer.SendPayment(ctx, lightning.PaymentRequest{Invoice: inv.PaymentRequest, FeeLimitMsat: 10_000, Timeout: 60 * time.Second})
			if err != nil {
				t.Errorf("payer: %v", err)
			}
			result <- p
		}()
		for u := range updates {
			if u.State == lightning.InvoiceAccepted {
				info, err := platform.Info(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if u.HTLCExpiry <= info.BlockHeight || u.AcceptHeight == 0 {
					t.Fatalf("accepted HTLC: accept height %d, expiry %d at block %d", u.AcceptHeight, u.HTLCExpiry, info.BlockHeight)
				}
				return preimage, hash, inv, result
			}
		}
		t.Fatal("the hold invoice was never accepted")
		return
	}

	platformBefore := net.Platform.SettledBalance(t)
	preimage, hash, _, result := hold()
	wantCode(t, platform.SettleInvoice(ctx, strings.Repeat("00", 32)), stipend.ENOTFOUND) // a wrong preimage matches no invoice
	if err := platform.SettleInvoice(ctx, preimage); err != nil {
		t.Fatal(err)
	}
	if p := <-result; p == nil || p.Status != lightning.PaymentSucceeded || p.Preimage != preimage {
		t.Fatalf("payer's payment after settle = %+v", p)
	}
	u, err := platform.LookupInvoice(ctx, hash)
	if err != nil || u.State != lightning.InvoiceSettled || u.AmountPaidMsat != 50_000 {
		t.Fatalf("settled invoice = %+v, %v", u, err)
	}
	wantCode(t, platform.CancelInvoice(ctx, hash), stipend.ECONFLICT)
	platformAfter := net.Platform.SettledBalance(t)
	if got := platformAfter - platformBefore; got != 50_000 {
		t.Fatalf("settling credited the platform's channels with %d msat, want 50000", got)
	}

	before := net.Payer.SettledBalance(t)
	_, hash2, _, result2 := hold()
	if err := platform.CancelInvoice(ctx, hash2); err != nil {
		t.Fatal(err)
	}
	p := <-result2
	if p == nil || p.Status != lightning.PaymentFailed || p.FailureReason != lnrpc.PaymentFailureReason_FAILURE_REASON_INCORRECT_PAYMENT_DETAILS.String() {
		t.Fatalf("payer's payment after cancel = %+v", p)
	}
	if after := net.Payer.SettledBalance(t); after != before {
		t.Fatalf("payer's channel balance %d msat after the cancel, %d before", after, before)
	}
	u, err = platform.LookupInvoice(ctx, hash2)
	if err != nil || u.State != lightning.InvoiceCanceled {
		t.Fatalf("canceled invoice = %+v, %v", u, err)
	}
	if final := net.Platform.SettledBalance(t); final != platformAfter {
		t.Fatalf("a cancelled hold invoice credited the platform: %d msat, was %d", final, platformAfter)
	}
	_, err = platform.LookupInvoice(ctx, strings.Repeat("ab", 32))
	wantCode(t, err, stipend.ENOTFOUND)
}

// TestSendPaymentPaysOnceAndTracks pays the payee's invoice, then "sends" it again: the node
// already knows the hash, so nothing is sent and the first payment's result comes back.
func TestSendPaymentPaysOnceAndTracks(t *testing.T) {
	net := regtest.Shared(t)
	ctx := ctxFor(t, 2*time.Minute)
	platform := net.Platform.Client(t)
	inv, err := net.Payee.LN.AddInvoice(ctx, &lnrpc.Invoice{Value: 1000, Memo: "payout"})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := lightning.PaymentHash(inv.PaymentRequest, "regtest")
	if err != nil {
		t.Fatal(err)
	}
	p, err := platform.TrackPayment(ctx, hash)
	if err != nil || p.Status != lightning.PaymentUnknown {
		t.Fatalf("tracking a payment never sent = %+v, %v", p, err)
	}
	req := lightning.PaymentRequest{Invoice: inv.PaymentRequest, FeeLimitMsat: 0, Timeout: 30 * time.Second}
	first, err := platform.SendPayment(ctx, req)
	if err != nil || first.Status != lightning.PaymentSucceeded || sha256Hex(first.Preimage) != hash || first.AmountMsat != 1_000_000 {
		t.Fatalf("payment = %+v, %v", first, err)
	}
	again, err := platform.SendPayment(ctx, req)
	if err != nil || again.Status != lightning.PaymentSucceeded || again.Preimage != first.Preimage {
		t.Fatalf("second send = %+v, %v", again, err)
	}
	tracked, err := platform.TrackPayment(ctx, hash)
	if err != nil || tracked.Status != lightning.PaymentSucceeded {
		t.Fatalf("tracked = %+v, %v", tracked, err)
	}
	all, err := platform.ListPayments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range all {
		if p.Hash == hash {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("lnd holds %d payments with the hash, want 1", n)
	}
}

// TestFeeCapBelowTheOnlyRouteIsNotPaid has the platform pay the payer, whom it reaches only
// through the payee, for a fee: under that fee nothing is paid; with enough, it is paid and
// the fee is reported.
func TestFeeCapBelowTheOnlyRouteIsNotPaid(t *testing.T) {
	net := regtest.Shared(t)
	ctx := ctxFor(t, 2*time.Minute)
	platform := net.Platform.Client(t)
	inv, err := net.Payer.LN.AddInvoice(ctx, &lnrpc.Invoice{Value: 5000, Memo: "far"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := platform.SendPayment(ctx, lightning.PaymentRequest{Invoice: inv.PaymentRequest, FeeLimitMsat: 1, Timeout: 20 * time.Second})
	if err != nil || p.Status != lightning.PaymentFailed || p.FailureReason != lnrpc.PaymentFailureReason_FAILURE_REASON_NO_ROUTE.String() {
		t.Fatalf("payment under the fee cap = %+v, %v", p, err)
	}
	// A failed hash may not be sent again under another fee cap: it is followed, and stays failed.
	again, err := platform.SendPayment(ctx, lightning.PaymentRequest{Invoice: inv.PaymentRequest, FeeLimitMsat: 100_000, Timeout: 20 * time.Second})
	if err != nil || again.Status != lightning.PaymentFailed {
		t.Fatalf("resending a failed payment = %+v, %v", again, err)
	}
	inv2, err := net.Payer.LN.AddInvoice(ctx, &lnrpc.Invoice{Value: 5000, Memo: "far, with fee"})
	if err != nil {
		t.Fatal(err)
	}
	p, err = platform.SendPayment(ctx, lightning.PaymentRequest{Invoice: inv2.PaymentRequest, FeeLimitMsat: 100_000, Timeout: 20 * time.Second})
	if err != nil || p.Status != lightning.PaymentSucceeded || p.FeeMsat <= 0 || p.FeeMsat > 100_000 {
		t.Fatalf("payment with a fee = %+v, %v", p, err)
	}
}

// TestLightningAddressResolvesToAnInvoiceOfTheAmount serves LNURL-pay for the payee from a
// test HTTP server, resolves a Lightning Address and LNURL to an invoice and pays it; a
// service whose invoice does not match its promise is refused.
func TestLightningAddressResolvesToAnInvoiceOfTheAmount(t *testing.T) {
	net := regtest.Shared(t)
	ctx := ctxFor(t, 2*time.Minute)
	metadata := `[["text/plain","tips for the payee"]]`
	var lie string // what the service gets wrong, if anything
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("/.well-known/lnurlp/payee", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"tag": "payRequest", "callback": srv.URL + "/cb", "minSendable": 1000, "maxSendable": 10_000_000, "metadata": metadata})
	})
	mux.HandleFunc("/cb", func(w http.ResponseWriter, r *http.Request) {
		var amount int64
		fmt.Sscan(r.URL.Query().Get("amount"), &amount)
		hash := sha256.Sum256([]byte(metadata))
		if lie == "amount" {
			amount += 1000
		}
		if lie == "metadata" {
			hash = sha256.Sum256([]byte("other"))
		}
		inv, err := net.Payee.LN.AddInvoice(r.Context(), &lnrpc.Invoice{ValueMsat: amount, DescriptionHash: hash[:]})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"pr": inv.PaymentRequest, "routes": []any{}})
	})
	srv = httptest.NewServer(mux)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	r := &lightning.Resolver{Network: "regtest", AllowInsecure: true}

	pr, inv, err := r.Resolve(ctx, "payee@"+host, 250_000)
	if err != nil {
		t.Fatal(err)
	}
	if inv.AmountMsat != 250_000 {
		t.Fatalf("resolved invoice = %+v", inv)
	}
	p, err := net.Platform.Client(t).SendPayment(ctx, lightning.PaymentRequest{Invoice: pr, FeeLimitMsat: 1000, Timeout: 30 * time.Second})
	if err != nil || p.Status != lightning.PaymentSucceeded {
		t.Fatalf("paying the resolved invoice = %+v, %v", p, err)
	}

	for _, l := range []string{"amount", "metadata"} {
		lie = l
		_, _, err := r.Resolve(ctx, "payee@"+host, 250_000)
		wantCode(t, err, stipend.EINVALID)
	}
	lie = ""
	_, _, err = r.Resolve(ctx, "payee@"+host, 500) // below minSendable
	wantCode(t, err, stipend.EINVALID)
	_, _, err = r.Resolve(ctx, "nobody@"+host, 250_000)
	wantCode(t, err, stipend.EINVALID)
	_, _, err = r.Resolve(ctx, "not an address", 250_000)
	wantCode(t, err, stipend.EINVALID)

	// Without AllowInsecure, a user-supplied address cannot make the server call its own network.
	strict := &lightning.Resolver{Network: "regtest"}
	_, _, err = strict.Resolve(ctx, "payee@"+host, 250_000)
	if code := stipend.ErrorCode(err); code != stipend.EUNAVAILABLE && code != stipend.EINVALID {
		t.Fatalf("a private address was fetched: %v", err)
	}
}

// TestHoldInvoiceIsCancelledBeforeLndsMargin holds a payment in a hold invoice with a short
// CLTV and mines towards its expiry: Stipend's guard leaves it alone while there is time and
// cancels it at its own deadline, twelve blocks before lnd's eighteen-block margin, so the
// payer's money returns by Stipend's decision.
func TestHoldInvoiceIsCancelledBeforeLndsMargin(t *testing.T) {
	net := regtest.Shared(t)
	ctx := ctxFor(t, 3*time.Minute)
	platform := net.Platform.Client(t)
	payer := net.Payer.Client(t)
	_, hash, err := lightning.NewPreimage()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := platform.AddHoldInvoice(ctx, lightning.HoldInvoiceRequest{Hash: hash, AmountMsat: 20_000, Expiry: time.Hour, CltvExpiry: 40})
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan *lightning.Payment, 1)
	go func() {
		p, _ := payer.SendPayment(ctx, lightning.PaymentRequest{Invoice: inv.PaymentRequest, FeeLimitMsat: 10_000, Timeout: 60 * time.Second})
		result <- p
	}()
	var u *lightning.InvoiceUpdate
	for i := 0; i < 600; i++ {
		if u, err = platform.LookupInvoice(ctx, hash); err == nil && u.State == lightning.InvoiceAccepted {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if u == nil || u.State != lightning.InvoiceAccepted {
		t.Fatal("the hold invoice was not accepted")
	}
	deadline := u.CancelByHeight()
	if deadline >= u.HTLCExpiry-lightning.LNDHoldSafetyBlocks {
		t.Fatalf("Stipend's deadline %d is not before lnd's margin (expiry %d)", deadline, u.HTLCExpiry)
	}
	if cancelled, err := lightning.ExpireHold(ctx, platform, hash); err != nil || cancelled {
		t.Fatalf("the guard cancelled an invoice with time left: %v, %v", cancelled, err)
	}
	info, err := platform.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := net.MineAndSync(ctx, int(deadline-info.BlockHeight)); err != nil {
		t.Fatal(err)
	}
	if cancelled, err := lightning.ExpireHold(ctx, platform, hash); err != nil || !cancelled {
		t.Fatalf("the guard did not cancel at its deadline: %v, %v", cancelled, err)
	}
	if p := <-result; p == nil || p.Status != lightning.PaymentFailed {
		t.Fatalf("the payer's payment after the guard cancelled = %+v", p)
	}
}

// TestARefusedPaymentFailsWithNothingSent sends an invoice that expired: lnd refuses to start
// the payment, records nothing, and the client reports a failure rather than an error, so
// that the money reserved for it can go back.
func TestARefusedPaymentFailsWithNothingSent(t *testing.T) {
	net := regtest.Shared(t)
	ctx := ctxFor(t, time.Minute)
	platform := net.Platform.Client(t)
	inv, err := net.Payee.LN.AddInvoice(ctx, &lnrpc.Invoice{Value: 1000, Expiry: 1})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	p, err := platform.SendPayment(ctx, lightning.PaymentRequest{Invoice: inv.PaymentRequest, Timeout: 10 * time.Second})
	if err != nil || p.Status != lightning.PaymentFailed || !strings.HasPrefix(p.FailureReason, lightning.RefusedPrefix) {
		t.Fatalf("paying an expired invoice = %+v, %v; want a refusal", p, err)
	}
	hash, _ := lightning.PaymentHash(inv.PaymentRequest, "regtest")
	if tracked, err := platform.TrackPayment(ctx, hash); err != nil || tracked.Status != lightning.PaymentUnknown {
		t.Fatalf("lnd recorded a refused payment: %+v, %v", tracked, err)
	}
}

// TestResolverReportsAFailingServiceAsUnavailable keeps a server error of an LNURL service
// apart from a refusal: the first is worth retrying, the second is not.
func TestResolverReportsAFailingServiceAsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 503) }))
	defer srv.Close()
	r := &lightning.Resolver{Network: "regtest", AllowInsecure: true}
	_, _, err := r.Resolve(context.Background(), "someone@"+strings.TrimPrefix(srv.URL, "http://"), 10_000)
	wantCode(t, err, stipend.EUNAVAILABLE)
}
