package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/paywall"
)

// paymentHash returns a fresh random payment hash, hex-encoded.
func paymentHash(t testing.TB) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// lightningCall is a call paid over Lightning with hash, selling for amount msat to seller,
// whose lease ends at leaseUntil.
func lightningCall(hash, sellerID string, amount, fee int64, leaseUntil time.Time) *paywall.Call {
	now := time.Now().UTC()
	return &paywall.Call{ID: stipend.NewID("call"), Route: "/x/ep_test", Method: paywall.MethodL402, PaymentHash: hash,
		SellerID: sellerID, Price: ledger.Msat(amount), Fee: fee, State: paywall.CallReserved,
		LeaseToken: stipend.NewID("lease"), LeaseUntil: leaseUntil, CreatedAt: now}
}

// creditsCall is a call paid from payerID's balance.
func creditsCall(payerID, sellerID string, amount, fee int64, leaseUntil time.Time) *paywall.Call {
	c := lightningCall("", sellerID, amount, fee, leaseUntil)
	c.Method, c.PayerID = paywall.MethodCredits, payerID
	return c
}

// paidTo is what serving a call pays: the seller's share and the fee.
func paidTo(sellerID string, amount, fee int64) []ledger.Entry {
	return []ledger.Entry{
		{Address: ledger.AccountAddress(sellerID), Asset: ledger.BTC, Amount: amount - fee},
		{Address: ledger.FeesAddress, Asset: ledger.BTC, Amount: fee},
	}
}

// wantCallState fails unless the stored call is in state.
func wantCallState(t testing.TB, s *Store, id, state string) *paywall.Call {
	t.Helper()
	c, err := s.PaidCall(context.Background(), id)
	if err != nil {
		t.Fatalf("paid call %s: %v", id, err)
	}
	if c.State != state {
		t.Fatalf("paid call %s is %s, want %s", id, c.State, state)
	}
	return c
}

var (
	later   = func() time.Time { return time.Now().Add(time.Hour) }
	earlier = func() time.Time { return time.Now().Add(-time.Minute) }
)

func TestPaidCallClaimIsSingleUse(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seller := newUser(t, s, "seller")
		hash := paymentHash(t)

		first := lightningCall(hash, seller.ID, 10_000, 250, later())
		if err := s.ReserveCall(ctx, first); err != nil {
			t.Fatalf("first claim: %v", err)
		}
		got := wantCallState(t, s, first.ID, paywall.CallReserved)
		if got.PaymentHash != hash || got.SellerID != seller.ID || got.Price != ledger.Msat(10_000) || got.Fee != 250 || got.HoldID != "" {
			t.Fatalf("stored call = %+v", got)
		}

		second := lightningCall(hash, seller.ID, 10_000, 250, later())
		wantCode(t, s.ReserveCall(ctx, second), stipend.ECONFLICT)
		if _, err := s.PaidCall(ctx, second.ID); stipend.ErrorCode(err) != stipend.ENOTFOUND {
			t.Fatalf("a refused claim left its call behind: %v", err)
		}

		// Finishing needs the call's own lease token, and a known call.
		_, err := s.RefundCall(ctx, first.ID, "lease_wrong")
		wantCode(t, err, stipend.ECONFLICT)
		_, err = s.RefundCall(ctx, "call_unknown", first.LeaseToken)
		wantCode(t, err, stipend.ENOTFOUND)
		_, err = s.ServeCall(ctx, "call_unknown", first.LeaseToken, paidTo(seller.ID, 10_000, 250))
		wantCode(t, err, stipend.ENOTFOUND)

		refunded, err := s.RefundCall(ctx, first.ID, first.LeaseToken)
		if err != nil || refunded.State != paywall.CallRefunded || refunded.FinishedAt == nil {
			t.Fatalf("refund = %+v, %v", refunded, err)
		}
		_, err = s.RefundCall(ctx, first.ID, first.LeaseToken)
		wantCode(t, err, stipend.ECONFLICT)
		_, err = s.ServeCall(ctx, first.ID, first.LeaseToken, paidTo(seller.ID, 10_000, 250))
		wantCode(t, err, stipend.ECONFLICT)

		// A refund gives the credential back: the hash can be claimed again, once.
		third := lightningCall(hash, seller.ID, 10_000, 250, later())
		if err := s.ReserveCall(ctx, third); err != nil {
			t.Fatalf("claim after a refund: %v", err)
		}
		if _, err := s.ServeCall(ctx, third.ID, third.LeaseToken, paidTo(seller.ID, 10_000, 250)); err != nil {
			t.Fatal(err)
		}
		// A served claim is never released, not even when its lease is long over.
		wantCode(t, s.ReserveCall(ctx, lightningCall(hash, seller.ID, 10_000, 250, later())), stipend.ECONFLICT)
		checkInvariants(t, s)
	})
}

func TestPaidCallLeaseTakeover(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seller := newUser(t, s, "seller")
		hash := paymentHash(t)

		// A server reserved the call and died: its lease is over.
		dead := lightningCall(hash, seller.ID, 10_000, 250, earlier())
		if err := s.ReserveCall(ctx, dead); err != nil {
			t.Fatal(err)
		}
		next := lightningCall(hash, seller.ID, 10_000, 250, later())
		if err := s.ReserveCall(ctx, next); err != nil {
			t.Fatalf("taking over an expired claim: %v", err)
		}
		if c := wantCallState(t, s, dead.ID, paywall.CallRefunded); c.FinishedAt == nil {
			t.Fatal("the taken-over call has no finish time")
		}
		// The late server comes back: its stale lease is refused, and nothing is posted.
		_, err := s.ServeCall(ctx, dead.ID, dead.LeaseToken, paidTo(seller.ID, 10_000, 250))
		wantCode(t, err, stipend.ECONFLICT)
		_, err = s.RefundCall(ctx, dead.ID, dead.LeaseToken)
		wantCode(t, err, stipend.ECONFLICT)
		if got := available(t, s, ledger.AccountAddress(seller.ID), ledger.BTC); got != 0 {
			t.Fatalf("the stale lease paid the seller %d", got)
		}
		// The live claim is not expired: nobody else takes it.
		wantCode(t, s.ReserveCall(ctx, lightningCall(hash, seller.ID, 10_000, 250, later())), stipend.ECONFLICT)
		if _, err := s.ServeCall(ctx, next.ID, next.LeaseToken, paidTo(seller.ID, 10_000, 250)); err != nil {
			t.Fatalf("serving the call that took over: %v", err)
		}
		if got := available(t, s, ledger.AccountAddress(seller.ID), ledger.BTC); got != 9_750 {
			t.Fatalf("seller = %d, want 9750 (paid once)", got)
		}
		checkInvariants(t, s)
	})
}

func TestServeLightningCallPostsLedger(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seller := newUser(t, s, "seller")
		const amount, fee = 2_100_000, 52_500
		c := lightningCall(paymentHash(t), seller.ID, amount, fee, later())
		if err := s.ReserveCall(ctx, c); err != nil {
			t.Fatal(err)
		}
		if got := available(t, s, ledger.AccountAddress(seller.ID), ledger.BTC); got != 0 {
			t.Fatalf("a reserved call paid the seller %d", got)
		}
		served, err := s.ServeCall(ctx, c.ID, c.LeaseToken, paidTo(seller.ID, amount, fee))
		if err != nil {
			t.Fatal(err)
		}
		if served.State != paywall.CallServed || served.LedgerTx == "" || served.FinishedAt == nil {
			t.Fatalf("served call = %+v", served)
		}
		if stored := wantCallState(t, s, c.ID, paywall.CallServed); stored.LedgerTx != served.LedgerTx {
			t.Fatalf("stored ledger_tx = %q, want %q", stored.LedgerTx, served.LedgerTx)
		}
		tx, err := s.Transaction(ctx, served.LedgerTx)
		if err != nil {
			t.Fatal(err)
		}
		if tx.Kind != paywall.KindPaidCall {
			t.Fatalf("kind = %q, want %q", tx.Kind, paywall.KindPaidCall)
		}
		want := map[string]int64{
			ledger.ExternalAddress("lightning"): -amount,
			ledger.AccountAddress(seller.ID):    amount - fee,
			ledger.FeesAddress:                  fee,
		}
		got := map[string]int64{}
		for _, e := range tx.Entries {
			if e.Asset != ledger.BTC {
				t.Fatalf("entry in %s", e.Asset)
			}
			got[e.Address] += e.Amount
		}
		if len(got) != len(want) {
			t.Fatalf("entries = %v, want %v", got, want)
		}
		for a, v := range want {
			if got[a] != v {
				t.Fatalf("entries = %v, want %v", got, want)
			}
			if bal := available(t, s, a, ledger.BTC); bal != v {
				t.Fatalf("balance of %s = %d, want %d", a, bal, v)
			}
		}
		// Served once: a second serve is refused and posts nothing.
		_, err = s.ServeCall(ctx, c.ID, c.LeaseToken, paidTo(seller.ID, amount, fee))
		wantCode(t, err, stipend.ECONFLICT)
		if bal := available(t, s, ledger.AccountAddress(seller.ID), ledger.BTC); bal != amount-fee {
			t.Fatalf("seller after a second serve = %d", bal)
		}
		checkInvariants(t, s)
	})
}

func TestCreditsCallHoldsCapturesAndReleases(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		payer, seller := newUser(t, s, "payer"), newUser(t, s, "seller")
		credit(t, s, payer.ID, ledger.Msat(10_000))
		balance := func(id string) int64 { t.Helper(); return available(t, s, ledger.AccountAddress(id), ledger.BTC) }

		served := creditsCall(payer.ID, seller.ID, 3_000, 75, later())
		if err := s.ReserveCall(ctx, served); err != nil {
			t.Fatal(err)
		}
		if served.HoldID == "" {
			t.Fatal("a credits call has no hold")
		}
		if got := balance(payer.ID); got != 7_000 {
			t.Fatalf("payer with the price held = %d, want 7000", got)
		}
		c, err := s.ServeCall(ctx, served.ID, served.LeaseToken, paidTo(seller.ID, 3_000, 75))
		if err != nil {
			t.Fatal(err)
		}
		if c.LedgerTx == "" || c.HoldID != served.HoldID {
			t.Fatalf("served credits call = %+v", c)
		}
		if h, err := s.GetHold(ctx, served.HoldID); err != nil || h.Status != ledger.HoldCaptured {
			t.Fatalf("hold after serving = %+v, %v", h, err)
		}
		if p, sl, f := balance(payer.ID), balance(seller.ID), available(t, s, ledger.FeesAddress, ledger.BTC); p != 7_000 || sl != 2_925 || f != 75 {
			t.Fatalf("after serving: payer %d, seller %d, fees %d; want 7000, 2925, 75", p, sl, f)
		}

		refunded := creditsCall(payer.ID, seller.ID, 3_000, 75, later())
		if err := s.ReserveCall(ctx, refunded); err != nil {
			t.Fatal(err)
		}
		if got := balance(payer.ID); got != 4_000 {
			t.Fatalf("payer with a second hold = %d, want 4000", got)
		}
		if _, err := s.RefundCall(ctx, refunded.ID, refunded.LeaseToken); err != nil {
			t.Fatal(err)
		}
		if h, err := s.GetHold(ctx, refunded.HoldID); err != nil || h.Status != ledger.HoldReleased {
			t.Fatalf("hold after the refund = %+v, %v", h, err)
		}
		if p, sl := balance(payer.ID), balance(seller.ID); p != 7_000 || sl != 2_925 {
			t.Fatalf("after the refund: payer %d, seller %d; want 7000, 2925", p, sl)
		}

		for _, tc := range []struct {
			name string
			call *paywall.Call
			code string
		}{
			{"more than the balance", creditsCall(payer.ID, seller.ID, 7_001, 175, later()), stipend.EINSUFFICIENTFUNDS},
			{"a payer without money", creditsCall(seller.ID, payer.ID, 1_000_000, 0, later()), stipend.EINSUFFICIENTFUNDS},
			{"an unknown payer", creditsCall("acct_unknown", seller.ID, 1_000, 25, later()), stipend.ENOTFOUND},
			{"an unknown seller", creditsCall(payer.ID, "acct_unknown", 1_000, 25, later()), stipend.ENOTFOUND},
		} {
			wantCode(t, s.ReserveCall(ctx, tc.call), tc.code)
			if _, err := s.PaidCall(ctx, tc.call.ID); stipend.ErrorCode(err) != stipend.ENOTFOUND {
				t.Fatalf("%s: a refused call was stored: %v", tc.name, err)
			}
		}
		if got := balance(payer.ID); got != 7_000 {
			t.Fatalf("refused calls moved the payer's balance to %d", got)
		}
		checkInvariants(t, s)
	})
}

func TestRefundExpiredCalls(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		payer, seller := newUser(t, s, "payer"), newUser(t, s, "seller")
		credit(t, s, payer.ID, ledger.Msat(10_000))
		reserve := func(c *paywall.Call) *paywall.Call {
			t.Helper()
			if err := s.ReserveCall(ctx, c); err != nil {
				t.Fatal(err)
			}
			return c
		}
		expiredHash := paymentHash(t)
		expiredLN := reserve(lightningCall(expiredHash, seller.ID, 1_000, 25, earlier()))
		expiredCredits := reserve(creditsCall(payer.ID, seller.ID, 2_000, 50, earlier()))
		live := reserve(creditsCall(payer.ID, seller.ID, 3_000, 75, later()))
		// Served after its lease ended but before any sweep: it stays served.
		servedLate := reserve(lightningCall(paymentHash(t), seller.ID, 1_000, 25, earlier()))
		if _, err := s.ServeCall(ctx, servedLate.ID, servedLate.LeaseToken, paidTo(seller.ID, 1_000, 25)); err != nil {
			t.Fatal(err)
		}
		if got := available(t, s, ledger.AccountAddress(payer.ID), ledger.BTC); got != 5_000 {
			t.Fatalf("payer with two holds = %d, want 5000", got)
		}

		n, err := s.RefundExpiredCalls(ctx, time.Now(), 100)
		if err != nil || n != 2 {
			t.Fatalf("refunded %d, %v; want 2", n, err)
		}
		wantCallState(t, s, expiredLN.ID, paywall.CallRefunded)
		wantCallState(t, s, expiredCredits.ID, paywall.CallRefunded)
		wantCallState(t, s, live.ID, paywall.CallReserved)
		wantCallState(t, s, servedLate.ID, paywall.CallServed)
		if got := available(t, s, ledger.AccountAddress(payer.ID), ledger.BTC); got != 7_000 {
			t.Fatalf("payer after the sweep = %d, want 7000 (the expired hold released)", got)
		}
		// The expired call's claim is gone: its credential can be presented again.
		reserve(lightningCall(expiredHash, seller.ID, 1_000, 25, later()))
		// Its late server finds the call refunded.
		_, err = s.ServeCall(ctx, expiredCredits.ID, expiredCredits.LeaseToken, paidTo(seller.ID, 2_000, 50))
		wantCode(t, err, stipend.ECONFLICT)

		if n, err := s.RefundExpiredCalls(ctx, time.Now(), 100); err != nil || n != 0 {
			t.Fatalf("second sweep refunded %d, %v; want 0", n, err)
		}
		// The limit bounds one sweep.
		reserve(lightningCall(paymentHash(t), seller.ID, 1_000, 25, earlier()))
		reserve(lightningCall(paymentHash(t), seller.ID, 1_000, 25, earlier()))
		if n, err := s.RefundExpiredCalls(ctx, time.Now(), 1); err != nil || n != 1 {
			t.Fatalf("sweep with limit 1 refunded %d, %v", n, err)
		}
		if n, err := s.RefundExpiredCalls(ctx, time.Now(), 1); err != nil || n != 1 {
			t.Fatalf("next sweep with limit 1 refunded %d, %v", n, err)
		}
		checkInvariants(t, s)
	})
}

func TestServerSecret(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		first, err := s.ServerSecret(ctx, "test-secret", 32)
		if err != nil || len(first) != 32 {
			t.Fatalf("secret = %x, %v", first, err)
		}
		again, err := s.ServerSecret(ctx, "test-secret", 32)
		if err != nil || !bytes.Equal(again, first) {
			t.Fatalf("secret asked again = %x, %v; want %x", again, err, first)
		}
		other, err := s.ServerSecret(ctx, "other-secret", 32)
		if err != nil || bytes.Equal(other, first) {
			t.Fatalf("another name's secret = %x, %v", other, err)
		}

		// Two servers asking at once for a secret nobody made yet agree on it.
		var wg sync.WaitGroup
		var got [2][]byte
		var errs [2]error
		for i := range got {
			wg.Go(func() { got[i], errs[i] = s.ServerSecret(ctx, "raced-secret", 32) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("goroutine %d: %v", i, err)
			}
		}
		if len(got[0]) != 32 || !bytes.Equal(got[0], got[1]) {
			t.Fatalf("concurrent secrets differ: %x and %x", got[0], got[1])
		}
		if again, _ := s.ServerSecret(ctx, "raced-secret", 32); !bytes.Equal(again, got[0]) {
			t.Fatal("the raced secret changed")
		}
	})
}

// TestReserveCallConcurrentClaims proves on the real database that N concurrent replays of
// one single-use credential are served exactly once.
func TestReserveCallConcurrentClaims(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seller := newUser(t, s, "seller")
		hash := paymentHash(t)
		const n = 200
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = s.ReserveCall(ctx, lightningCall(hash, seller.ID, 1_000, 25, later()))
			})
		}
		close(start)
		wg.Wait()
		ok, conflicts := 0, 0
		for i, err := range errs {
			switch stipend.ErrorCode(err) {
			case "":
				ok++
			case stipend.ECONFLICT:
				conflicts++
			default:
				t.Fatalf("claim %d: %v", i, err)
			}
		}
		if ok != 1 || conflicts != n-1 {
			t.Fatalf("%d claims succeeded and %d conflicted; want 1 and %d", ok, conflicts, n-1)
		}
		var calls int
		if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM paid_calls WHERE payment_hash = ?`, hash).Scan(&calls); err != nil || calls != 1 {
			t.Fatalf("%d calls stored for the hash (%v), want 1", calls, err)
		}
	})
}

// TestReserveCallConcurrentCredits proves on the real database that concurrent calls cannot
// spend one balance twice.
func TestReserveCallConcurrentCredits(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		payer, seller := newUser(t, s, "payer"), newUser(t, s, "seller")
		const price, covered, n = 1_000, 10, 100
		credit(t, s, payer.ID, ledger.Msat(price*covered))
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = s.ReserveCall(ctx, creditsCall(payer.ID, seller.ID, price, 25, later()))
			})
		}
		close(start)
		wg.Wait()
		ok, short := 0, 0
		for i, err := range errs {
			switch stipend.ErrorCode(err) {
			case "":
				ok++
			case stipend.EINSUFFICIENTFUNDS:
				short++
			default:
				t.Fatalf("call %d: %v", i, err)
			}
		}
		if ok != covered || short != n-covered {
			t.Fatalf("%d calls reserved and %d refused; want %d and %d", ok, short, covered, n-covered)
		}
		if got := available(t, s, ledger.AccountAddress(payer.ID), ledger.BTC); got != 0 {
			t.Fatalf("payer's balance = %d, want exactly 0", got)
		}
		checkInvariants(t, s)
	})
}

// TestReserveCallConcurrentTakeover proves that of many requests taking over one expired
// claim, exactly one wins, and the dead call is refunded once.
func TestReserveCallConcurrentTakeover(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		seller := newUser(t, s, "seller")
		hash := paymentHash(t)
		dead := lightningCall(hash, seller.ID, 1_000, 25, earlier())
		if err := s.ReserveCall(ctx, dead); err != nil {
			t.Fatal(err)
		}
		const n = 50
		calls := make([]*paywall.Call, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			calls[i] = lightningCall(hash, seller.ID, 1_000, 25, later())
			wg.Go(func() {
				<-start
				errs[i] = s.ReserveCall(ctx, calls[i])
			})
		}
		close(start)
		wg.Wait()
		var winner *paywall.Call
		for i, err := range errs {
			switch stipend.ErrorCode(err) {
			case "":
				if winner != nil {
					t.Fatalf("calls %s and %s both took the claim over", winner.ID, calls[i].ID)
				}
				winner = calls[i]
			case stipend.ECONFLICT:
			default:
				t.Fatalf("takeover %d: %v", i, err)
			}
		}
		if winner == nil {
			t.Fatal("no request took the expired claim over")
		}
		wantCallState(t, s, dead.ID, paywall.CallRefunded)
		var holder string
		if err := s.db.QueryRow(ctx, `SELECT call_id FROM l402_consumed WHERE payment_hash = ?`, hash).Scan(&holder); err != nil || holder != winner.ID {
			t.Fatalf("the claim is held by %q (%v), want the winner %s", holder, err, winner.ID)
		}
		if _, err := s.ServeCall(ctx, winner.ID, winner.LeaseToken, paidTo(seller.ID, 1_000, 25)); err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, s)
	})
}
