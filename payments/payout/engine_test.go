package payout_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/invoicesrpc"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/internal/regtest"
	"github.com/stipend/stipend/internal/store"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning"
	"github.com/stipend/stipend/payments/lightning/lightningtest"
	"github.com/stipend/stipend/payments/lightning/lnd"
	"github.com/stipend/stipend/payments/payout"
	"github.com/stipend/stipend/payments/payout/lnrail"
)

func TestMain(m *testing.M) { os.Exit(regtest.RunMain(m)) }

// engine is the payout engine on a real database, paying through the platform node of the
// shared regtest network.
type engine struct {
	net    *regtest.Network
	store  *store.Store
	acc    *accounts.Service
	admin  *accounts.Principal
	client *lnd.Client
	rail   *lnrail.Rail
	svc    *payout.Service
}

func newEngine(t testing.TB, d *db.DB) *engine {
	t.Helper()
	net := regtest.Shared(t)
	e := &engine{net: net, store: store.New(d, nil)}
	e.acc = accounts.NewService(e.store, nil)
	secret, _, err := e.acc.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if e.admin, err = e.acc.Authenticate(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	e.client = net.Platform.Client(t)
	e.rail = lnrail.New(e.client, "regtest", lnrail.Options{Resolver: &lightning.Resolver{Network: "regtest", AllowInsecure: true}})
	e.svc = e.service(e.rail)
	return e
}

func (e *engine) service(rail payout.Rail) *payout.Service {
	return payout.NewService(e.store, e.acc, []payout.Rail{rail}, payout.Options{SweepInterval: 200 * time.Millisecond})
}

// run starts a job runner for svc until the returned stop is called or the test ends.
func (e *engine) run(t testing.TB, svc *payout.Service, lease time.Duration) (stop func()) {
	return e.runWith(t, svc, lease, 8)
}

// runB starts the engine's own runner with the given number of workers, for benchmarks.
func (e *engine) runB(b *testing.B, workers int) (stop func()) {
	return e.runWith(b, e.svc, time.Minute, workers)
}

func (e *engine) runWith(t testing.TB, svc *payout.Service, lease time.Duration, workers int) (stop func()) {
	t.Helper()
	r := jobs.NewRunner(e.store, jobs.Options{Workers: workers, PollInterval: 50 * time.Millisecond, Lease: lease,
		Backoff: func(int) time.Duration { return 200 * time.Millisecond }})
	r.Register(payout.JobSend, svc.HandleSend)
	r.Register(payout.JobSweep, svc.HandleSweep)
	r.Register(payout.JobRecover, svc.HandleRecover)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// user makes an account with a key that may request payouts, credited with sat satoshis.
func (e *engine) user(t testing.TB, sat int64) *accounts.Principal {
	t.Helper()
	ctx := context.Background()
	a, err := e.acc.CreateAccount(ctx, e.admin, accounts.NewAccount{Kind: accounts.KindUser, Handle: "u" + stipend.NewID("x")[20:], Name: "user"})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := e.acc.CreateKey(ctx, e.admin, accounts.NewKey{AccountID: a.ID, Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.acc.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if sat > 0 {
		if _, err := e.store.Post(ctx, ledger.Transfer("credit:"+a.ID, ledger.KindAdminCredit, ledger.OperatorAddress,
			ledger.AccountAddress(a.ID), ledger.Sat(sat))); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (e *engine) available(t *testing.T, accountID string) int64 {
	t.Helper()
	bs, err := e.store.Balances(context.Background(), ledger.AccountAddress(accountID))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Asset == ledger.BTC {
			return b.Available
		}
	}
	return 0
}

func invoice(t *testing.T, n *regtest.Node, sat int64) string {
	t.Helper()
	inv, err := n.LN.AddInvoice(context.Background(), &lnrpc.Invoice{Value: sat, Memo: "payout"})
	if err != nil {
		t.Fatal(err)
	}
	return inv.PaymentRequest
}

// waitFinal waits until a payout has ended.
func (e *engine) waitFinal(t *testing.T, id string) *payout.Payout {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		p, err := e.store.Payout(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if p.Final() {
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("payout %s did not end", id)
	return nil
}

// lndPayments counts the platform node's payments of a hash.
func (e *engine) lndPayments(t *testing.T, hash string) int {
	t.Helper()
	all, err := e.client.ListPayments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range all {
		if p.Hash == hash {
			n++
		}
	}
	return n
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := stipend.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (%v)", got, code, err)
	}
}

func sha(hexPreimage string) string {
	b, _ := hex.DecodeString(hexPreimage)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestPayoutToAnInvoiceSucceedsWithItsProof(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		e := newEngine(t, d)
		u := e.user(t, 5000)
		ctx := context.Background()
		p, err := e.svc.Request(ctx, u, payout.Request{Destination: invoice(t, e.net.Payee, 1000)}, "first")
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != payout.Requested || p.Amount != ledger.Sat(1000) || p.FeeCap != 10_000 || p.PaymentHash == "" {
			t.Fatalf("requested payout = %+v", p)
		}
		if got := e.available(t, u.Account.ID); got != 5_000_000-1_000_000-10_000 {
			t.Fatalf("available while reserved = %d msat", got)
		}
		again, err := e.svc.Request(ctx, u, payout.Request{Destination: p.Destination}, "first")
		if err != nil || again.ID != p.ID {
			t.Fatalf("a retried request = %+v, %v; want the first payout", again, err)
		}
		e.run(t, e.svc, time.Minute)
		p = e.waitFinal(t, p.ID)
		if p.Status != payout.Succeeded || sha(p.Proof) != p.PaymentHash || p.FeePaid != 0 || p.SettleTx == "" {
			t.Fatalf("finished payout = %+v", p)
		}
		// The balance falls by the amount plus the routing fee, exactly: here the channel is
		// direct, so the fee is zero and the whole fee reserve comes back.
		if got := e.available(t, u.Account.ID); got != 4_000_000 {
			t.Fatalf("available after the payout = %d msat, want 4000000", got)
		}
		if n := e.lndPayments(t, p.PaymentHash); n != 1 {
			t.Fatalf("lnd holds %d payments, want 1", n)
		}
	})
}

func TestPayoutWithARoutingFeePostsTheFee(t *testing.T) {
	t.Parallel()
	e := newEngine(t, dbtest.Open(t, db.SQLite))
	u := e.user(t, 10_000)
	fee := int64(100_000)
	p, err := e.svc.Request(context.Background(), u, payout.Request{Destination: invoice(t, e.net.Payer, 2000), MaxFee: &fee}, "fee")
	if err != nil {
		t.Fatal(err)
	}
	e.run(t, e.svc, time.Minute)
	p = e.waitFinal(t, p.ID)
	if p.Status != payout.Succeeded || p.FeePaid <= 0 || p.FeePaid > fee {
		t.Fatalf("payout through the payee = %+v", p)
	}
	if got, want := e.available(t, u.Account.ID), int64(10_000_000-2_000_000)-p.FeePaid; got != want {
		t.Fatalf("available = %d msat, want %d (amount plus the %d msat fee gone)", got, want, p.FeePaid)
	}
	bs, err := e.store.Balances(context.Background(), "external:routing_fees")
	if err != nil || len(bs) != 1 || bs[0].Available < p.FeePaid {
		t.Fatalf("routing fees account = %+v, %v", bs, err)
	}
	settle, err := e.store.Transaction(context.Background(), p.SettleTx)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range settle.Entries {
		if en.Address == "external:routing_fees" && en.Amount != p.FeePaid {
			t.Fatalf("fee posted %d, paid %d", en.Amount, p.FeePaid)
		}
	}
}

// TestPayoutsThatMustNotBePaidAreRefusedBeforeSending sends invoices of the wrong amount or
// network, or expired, and checks that nothing was reserved or sent.
func TestPayoutsThatMustNotBePaidAreRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		e := newEngine(t, d)
		u := e.user(t, 5000)
		now := time.Now()
		tests := []struct {
			name string
			req  payout.Request
		}{
			{"the wrong amount", payout.Request{Destination: invoice(t, e.net.Payee, 2000), Amount: ledger.Sat(1000)}},
			{"the wrong network", payout.Request{Destination: lightningtest.ForgeInvoice(t, &chaincfg.TestNet3Params, 1_000_000, now, time.Hour)}},
			{"mainnet", payout.Request{Destination: lightningtest.ForgeInvoice(t, &chaincfg.MainNetParams, 1_000_000, now, time.Hour)}},
			{"expired", payout.Request{Destination: lightningtest.ForgeInvoice(t, &chaincfg.RegressionNetParams, 1_000_000, now.Add(-2*time.Hour), time.Hour)}},
			{"no amount anywhere", payout.Request{Destination: lightningtest.ForgeInvoice(t, &chaincfg.RegressionNetParams, 0, now, time.Hour)}},
			{"a fee cap above the amount", payout.Request{Destination: invoice(t, e.net.Payee, 10), MaxFee: new(int64(20_000))}},
			{"not an invoice", payout.Request{Destination: "hello"}},
		}
		for i, tt := range tests {
			_, err := e.svc.Request(context.Background(), u, tt.req, fmt.Sprint("bad-", i))
			if stipend.ErrorCode(err) != stipend.EINVALID {
				t.Errorf("%s: %v, want invalid", tt.name, err)
			}
		}
		// Fiat is Stripe's, which this engine has not: unavailable, and nothing reserved.
		_, err := e.svc.Request(context.Background(), u, payout.Request{Destination: invoice(t, e.net.Payee, 10), Amount: ledger.Cents(5, ledger.USD)}, "bad-fiat")
		if stipend.ErrorCode(err) != stipend.EUNAVAILABLE {
			t.Errorf("a fiat amount without a Stripe rail: %v, want unavailable", err)
		}
		if got := e.available(t, u.Account.ID); got != 5_000_000 {
			t.Fatalf("available = %d msat after refused payouts", got)
		}
		list, _, err := e.svc.List(context.Background(), u, "", "", 0)
		if err != nil || len(list) != 0 {
			t.Fatalf("payouts after refusals = %+v, %v", list, err)
		}
	})
}

func TestPayoutAboveItsFeeCapFailsAndReturnsTheMoney(t *testing.T) {
	t.Parallel()
	e := newEngine(t, dbtest.Open(t, db.Postgres))
	u := e.user(t, 5000)
	fee := int64(1)
	p, err := e.svc.Request(context.Background(), u, payout.Request{Destination: invoice(t, e.net.Payer, 1000), MaxFee: &fee}, "far")
	if err != nil {
		t.Fatal(err)
	}
	e.run(t, e.svc, time.Minute)
	p = e.waitFinal(t, p.ID)
	if p.Status != payout.Failed || !strings.Contains(p.Failure, "fee cap") {
		t.Fatalf("payout above its fee cap = %+v", p)
	}
	if got := e.available(t, u.Account.ID); got != 5_000_000 {
		t.Fatalf("available = %d msat after the failure, want 5000000", got)
	}
	page, _, err := e.store.Transactions(context.Background(), ledger.TransactionFilter{OwnerID: u.Account.ID})
	if err != nil || len(page) != 3 || page[0].Kind != ledger.KindReversal {
		t.Fatalf("the failure was not a reversal: %+v, %v", page, err)
	}
}

// TestOneHundredRequestsAgainstABalanceForTen races 100 payout requests against a balance that
// covers ten of them: exactly ten are accepted and paid.
func TestOneHundredRequestsAgainstABalanceForTen(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		e := newEngine(t, d)
		u := e.user(t, 10*1000)
		invoices := make([]string, 100)
		for i := range invoices {
			invoices[i] = invoice(t, e.net.Payee, 1000)
		}
		zero := int64(0)
		var mu sync.Mutex
		var accepted []string
		codes := map[string]int{}
		var wg sync.WaitGroup
		for i := range invoices {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := e.svc.Request(context.Background(), u, payout.Request{Destination: invoices[i], MaxFee: &zero}, fmt.Sprint("race-", i))
				mu.Lock()
				defer mu.Unlock()
				codes[stipend.ErrorCode(err)]++
				if err == nil {
					accepted = append(accepted, p.ID)
				}
			}()
		}
		wg.Wait()
		if codes[""] != 10 || codes[stipend.EINSUFFICIENTFUNDS] != 90 {
			t.Fatalf("outcomes = %v, want 10 accepted and 90 insufficient_funds", codes)
		}
		e.run(t, e.svc, time.Minute)
		for _, id := range accepted {
			if p := e.waitFinal(t, id); p.Status != payout.Succeeded || e.lndPayments(t, p.PaymentHash) != 1 {
				t.Fatalf("payout %+v", p)
			}
		}
		if got := e.available(t, u.Account.ID); got != 0 {
			t.Fatalf("available = %d msat, want 0", got)
		}
	})
}

func TestCancelBeforeInFlight(t *testing.T) {
	t.Parallel()
	e := newEngine(t, dbtest.Open(t, db.SQLite))
	u := e.user(t, 5000)
	other := e.user(t, 0)
	ctx := context.Background()
	p, err := e.svc.Request(ctx, u, payout.Request{Destination: invoice(t, e.net.Payee, 1000)}, "cancel")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Cancel(ctx, other, p.ID)
	wantCode(t, err, stipend.ENOTFOUND)
	p, err = e.svc.Cancel(ctx, u, p.ID)
	if err != nil || p.Status != payout.Cancelled {
		t.Fatalf("cancel = %+v, %v", p, err)
	}
	if got := e.available(t, u.Account.ID); got != 5_000_000 {
		t.Fatalf("available = %d msat after the cancel", got)
	}
	_, err = e.svc.Cancel(ctx, u, p.ID)
	wantCode(t, err, stipend.ECONFLICT)
	e.run(t, e.svc, time.Minute)
	time.Sleep(500 * time.Millisecond)
	if p, _ := e.store.Payout(ctx, p.ID); p.Status != payout.Cancelled || e.lndPayments(t, p.PaymentHash) != 0 {
		t.Fatalf("a cancelled payout was sent: %+v", p)
	}
}

// crashingRail stands for a process that dies around the rail call: before calling it, or
// after lnd took the payment but before the outcome came back.
type crashingRail struct {
	payout.Rail
	beforeSend bool
	after      func() // runs after the payment is under way, before the "crash"
}

var errCrashed = errors.New("the process died")

func (c *crashingRail) Send(ctx context.Context, p *payout.Payout) (*payout.Outcome, error) {
	if c.beforeSend {
		return nil, errCrashed
	}
	// lnd goes on with the payment although its caller is gone.
	go c.Rail.Send(context.WithoutCancel(ctx), p)
	c.after()
	return nil, errCrashed
}

// TestRestartAfterInFlightEndsOnceWithOnePayment stops the engine after a payout is committed
// in flight and before its outcome is recorded, both before and after lnd took the payment;
// a new engine then ends the payout in exactly one final state, with one payment in lnd.
func TestRestartAfterInFlightEndsOnceWithOnePayment(t *testing.T) {
	t.Parallel()
	for _, beforeSend := range []bool{true, false} {
		t.Run(fmt.Sprintf("crash before the send: %v", beforeSend), func(t *testing.T) {
			t.Parallel()
			e := newEngine(t, dbtest.Open(t, db.Postgres))
			u := e.user(t, 5000)
			ctx := context.Background()
			// A hold invoice of the payee keeps the payment in flight until the test settles it.
			preimage, hash, err := lightning.NewPreimage()
			if err != nil {
				t.Fatal(err)
			}
			hb, _ := hex.DecodeString(hash)
			hold, err := e.net.Payee.Invoices.AddHoldInvoice(ctx, &invoicesrpc.AddHoldInvoiceRequest{Hash: hb, Value: 1000, Expiry: 3600, CltvExpiry: 80})
			if err != nil {
				t.Fatal(err)
			}
			accepted := func() {
				for i := 0; i < 600; i++ {
					inv, err := e.net.Payee.LN.LookupInvoice(ctx, &lnrpc.PaymentHash{RHash: hb})
					if err == nil && inv.State == lnrpc.Invoice_ACCEPTED {
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
				t.Error("the payee never saw the payment")
			}
			p, err := e.svc.Request(ctx, u, payout.Request{Destination: hold.PaymentRequest}, "crash")
			if err != nil {
				t.Fatal(err)
			}
			stop := e.run(t, e.service(&crashingRail{Rail: e.rail, beforeSend: beforeSend, after: accepted}), time.Minute)
			for i := 0; ; i++ {
				got, _ := e.store.Payout(ctx, p.ID)
				if got.Status == payout.InFlight && got.SentAt != nil {
					break
				}
				if i > 600 {
					t.Fatalf("the payout never went in flight: %+v", got)
				}
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // let the first engine's attempt end
			stop()
			if got, _ := e.store.Payout(ctx, p.ID); got.Status != payout.InFlight {
				t.Fatalf("after the crash the payout is %s, want still in flight", got.Status)
			}
			// The payee takes the money while no engine runs; then a new engine starts.
			go func() {
				if !beforeSend {
					pb, _ := hex.DecodeString(preimage)
					if _, err := e.net.Payee.Invoices.SettleInvoice(ctx, &invoicesrpc.SettleInvoiceMsg{Preimage: pb}); err != nil {
						t.Errorf("settling: %v", err)
					}
				}
			}()
			if beforeSend {
				// Nothing reached lnd: the new engine's send is the first, and the test
				// settles once the payee holds it.
				go func() {
					accepted()
					pb, _ := hex.DecodeString(preimage)
					e.net.Payee.Invoices.SettleInvoice(ctx, &invoicesrpc.SettleInvoiceMsg{Preimage: pb})
				}()
			}
			e.run(t, e.svc, time.Minute)
			final := e.waitFinal(t, p.ID)
			if final.Status != payout.Succeeded || final.Proof != preimage {
				t.Fatalf("payout after the restart = %+v", final)
			}
			if n := e.lndPayments(t, hash); n != 1 {
				t.Fatalf("lnd holds %d payments of the hash, want exactly 1", n)
			}
			if got := e.available(t, u.Account.ID); got != 4_000_000 {
				t.Fatalf("available = %d msat, want 4000000 (one payout of 1000 sat)", got)
			}
		})
	}
}

// TestLightningAddressPayoutAndAutomaticSweep pays a Lightning Address served for the payee,
// then sets a sweep preference and lets the engine pay the balance out by itself.
func TestLightningAddressPayoutAndAutomaticSweep(t *testing.T) {
	t.Parallel()
	e := newEngine(t, dbtest.Open(t, db.SQLite))
	address := e.net.Payee.ServeLightningAddress(t, "payee")
	ctx := context.Background()

	u := e.user(t, 5000)
	_, err := e.svc.Request(ctx, u, payout.Request{Destination: address}, "no amount")
	wantCode(t, err, stipend.EINVALID)
	p, err := e.svc.Request(ctx, u, payout.Request{Destination: address, Amount: ledger.Sat(1500)}, "address")
	if err != nil {
		t.Fatal(err)
	}
	stop := e.run(t, e.svc, time.Minute)
	if p = e.waitFinal(t, p.ID); p.Status != payout.Succeeded {
		t.Fatalf("payout to a Lightning Address = %+v", p)
	}
	stop()

	sweeper := e.user(t, 0)
	_, err = e.svc.SetPreference(ctx, sweeper, payout.Preference{Asset: ledger.BTC, Rail: payout.RailLightning, Destination: invoice(t, e.net.Payee, 1), Minimum: 2_000_000})
	wantCode(t, err, stipend.EINVALID) // an invoice cannot be paid twice, so it cannot take sweeps
	if _, err := e.svc.SetPreference(ctx, sweeper, payout.Preference{Asset: ledger.BTC, Rail: payout.RailLightning, Destination: address, Minimum: 2_000_000}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Post(ctx, ledger.Transfer("earned:"+sweeper.Account.ID, "transfer", ledger.OperatorAddress,
		ledger.AccountAddress(sweeper.Account.ID), ledger.Sat(3000))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.Enqueue(ctx, jobs.NewJob{Kind: payout.JobSweep, UniqueKey: payout.JobSweep}); err != nil {
		t.Fatal(err)
	}
	e.run(t, e.svc, time.Minute)
	var swept *payout.Payout
	for i := 0; i < 600 && swept == nil; i++ {
		list, _, err := e.svc.List(ctx, sweeper, "", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) > 0 && list[0].Final() {
			swept = &list[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	if swept == nil || swept.Status != payout.Succeeded || swept.Source != payout.SourceSweep {
		t.Fatalf("sweep = %+v", swept)
	}
	if got, want := e.available(t, sweeper.Account.ID), swept.FeeCap-swept.FeePaid; got != want {
		t.Fatalf("available after the sweep = %d msat, want %d (the unused fee reserve)", got, want)
	}
}

// TestExpiredAndOwnInvoicesFailWithoutBeingSent covers the invoices lnd would refuse: one
// that expired while its payout waited is failed by the engine, with the money back and
// nothing sent; one of the platform's own is refused at the request.
func TestExpiredAndOwnInvoicesFailWithoutBeingSent(t *testing.T) {
	t.Parallel()
	e := newEngine(t, dbtest.Open(t, db.SQLite))
	u := e.user(t, 5000)
	ctx := context.Background()
	own, err := e.net.Platform.LN.AddInvoice(ctx, &lnrpc.Invoice{Value: 1000})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Request(ctx, u, payout.Request{Destination: own.PaymentRequest}, "own")
	wantCode(t, err, stipend.EINVALID)

	p, err := e.svc.Request(ctx, u, payout.Request{Destination: invoice(t, e.net.Payee, 1000)}, "late")
	if err != nil {
		t.Fatal(err)
	}
	// The engine runs two days later, when the invoice (lnd's default expiry is a day) has expired.
	late := lnrail.New(e.client, "regtest", lnrail.Options{Now: func() time.Time { return time.Now().Add(48 * time.Hour) }})
	e.run(t, e.service(late), time.Minute)
	p = e.waitFinal(t, p.ID)
	if p.Status != payout.Failed || !strings.Contains(p.Failure, "expired") {
		t.Fatalf("payout of an expired invoice = %+v", p)
	}
	if got := e.available(t, u.Account.ID); got != 5_000_000 {
		t.Fatalf("available = %d msat, want the reservation back", got)
	}
	if n := e.lndPayments(t, p.PaymentHash); n != 0 {
		t.Fatalf("lnd holds %d payments of an expired invoice", n)
	}
}

// TestAPayoutWhoseJobDiedIsTakenUpAgain kills a payout's send job (as if its attempts ran
// out while lnd was down): the recovery job queues it again and the payout ends.
func TestAPayoutWhoseJobDiedIsTakenUpAgain(t *testing.T) {
	t.Parallel()
	d := dbtest.Open(t, db.Postgres)
	e := newEngine(t, d)
	u := e.user(t, 5000)
	ctx := context.Background()
	p, err := e.svc.Request(ctx, u, payout.Request{Destination: invoice(t, e.net.Payee, 1000)}, "orphan")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE jobs SET state = 'dead' WHERE kind = ?`, payout.JobSend)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.Enqueue(ctx, jobs.NewJob{Kind: payout.JobRecover, UniqueKey: payout.JobRecover}); err != nil {
		t.Fatal(err)
	}
	e.run(t, e.svc, time.Minute)
	if p = e.waitFinal(t, p.ID); p.Status != payout.Succeeded {
		t.Fatalf("the orphaned payout = %+v", p)
	}
}

// TestCancelledWhileItsAddressResolvesIsNotSent cancels a sweep before the engine resolves
// its Lightning Address: the engine must leave it cancelled, without sending or panicking.
func TestCancelledWhileItsAddressResolvesIsNotSent(t *testing.T) {
	t.Parallel()
	e := newEngine(t, dbtest.Open(t, db.SQLite))
	addr := e.net.Payee.ServeLightningAddress(t, "payee")
	u := e.user(t, 5000)
	ctx := context.Background()
	id := stipend.NewID("po")
	p, err := e.store.CreatePayout(ctx, &payout.Payout{ID: id, RequestKey: "sweep:" + id, AccountID: u.Account.ID, Rail: payout.RailLightning,
		Amount: ledger.Sat(1000), FeeCap: 10_000, Destination: addr, Status: payout.Requested, Source: payout.SourceSweep})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Cancel(ctx, u, p.ID); err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(payout.SendJob{PayoutID: p.ID})
	if err := e.svc.HandleSend(ctx, jobs.Job{Kind: payout.JobSend, Payload: payload}); err != nil {
		t.Fatalf("sending a cancelled payout: %v", err)
	}
	if got, _ := e.store.Payout(ctx, p.ID); got.Status != payout.Cancelled {
		t.Fatalf("payout = %+v, want still cancelled", got)
	}
}

// TestAFailingSweepWaitsBeforeTheNext points a sweep at an address that is gone: one sweep
// fails and returns the money, and the next runs do not fail another payout every interval.
func TestAFailingSweepWaitsBeforeTheNext(t *testing.T) {
	t.Parallel()
	e := newEngine(t, dbtest.Open(t, db.SQLite))
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	ctx := context.Background()
	u := e.user(t, 5000)
	if _, err := e.svc.SetPreference(ctx, u, payout.Preference{Asset: ledger.BTC, Rail: payout.RailLightning,
		Destination: "gone@" + strings.TrimPrefix(srv.URL, "http://"), Minimum: 1_000_000}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := e.svc.HandleSweep(ctx, jobs.Job{}); err != nil {
			if _, snoozed := jobs.IsSnooze(err); !snoozed {
				t.Fatal(err)
			}
		}
		list, _, _ := e.svc.List(ctx, u, "", "", 0)
		for _, p := range list {
			payload, _ := json.Marshal(payout.SendJob{PayoutID: p.ID})
			e.svc.HandleSend(ctx, jobs.Job{Kind: payout.JobSend, Payload: payload})
		}
	}
	list, _, err := e.svc.List(ctx, u, "", "", 0)
	if err != nil || len(list) != 1 || list[0].Status != payout.Failed {
		t.Fatalf("payouts after three sweeps of a gone address = %+v, %v; want one failed", list, err)
	}
	if got := e.available(t, u.Account.ID); got != 5_000_000 {
		t.Fatalf("available = %d msat", got)
	}
}
