package store

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
)

func TestPostCreditsOnceAndReplaysItsKey(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		alice := newUser(t, s, "alice")
		in := ledger.Transfer("credit:once", ledger.KindAdminCredit, ledger.OperatorAddress, ledger.AccountAddress(alice.ID), ledger.Sat(2100))
		in.Memo = "welcome"
		first, err := s.Post(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		again, err := s.Post(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if again.ID != first.ID {
			t.Fatalf("replay returned transaction %s, want the first one %s", again.ID, first.ID)
		}
		if got := available(t, s, ledger.AccountAddress(alice.ID), ledger.BTC); got != 2_100_000 {
			t.Fatalf("balance = %d msat, want 2100000 (credited once)", got)
		}
		if got := available(t, s, ledger.OperatorAddress, ledger.BTC); got != -2_100_000 {
			t.Fatalf("operator balance = %d msat, want -2100000", got)
		}

		changed := in
		changed.Memo = "something else"
		_, err = s.Post(ctx, changed)
		wantCode(t, err, stipend.EIDEMPOTENCYMISMATCH)

		got, err := s.Transaction(ctx, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Memo != "welcome" || len(got.Entries) != 2 || got.Kind != ledger.KindAdminCredit {
			t.Fatalf("stored transaction = %+v", got)
		}
		checkInvariants(t, s)
	})
}

func TestPostRefusesAndChangesNothing(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		alice := newUser(t, s, "alice")
		bob := newUser(t, s, "bob")
		credit(t, s, alice.ID, ledger.Sat(100))
		aliceAddr, bobAddr := ledger.AccountAddress(alice.ID), ledger.AccountAddress(bob.ID)

		tests := []struct {
			name string
			tx   ledger.NewTransaction
			code string
		}{
			{"overdraft", ledger.Transfer("t1", ledger.KindTransfer, aliceAddr, bobAddr, ledger.Sat(101)), stipend.EINSUFFICIENTFUNDS},
			{"overdraft from an empty asset", ledger.Transfer("t2", ledger.KindTransfer, aliceAddr, bobAddr, ledger.Cents(1, ledger.USD)), stipend.EINSUFFICIENTFUNDS},
			{"unknown account", ledger.Transfer("t3", ledger.KindTransfer, aliceAddr, ledger.AccountAddress("acct_nobody"), ledger.Sat(1)), stipend.ENOTFOUND},
			{"into a hold account", ledger.Transfer("t4", ledger.KindTransfer, aliceAddr, ledger.HoldAddress("hold_x"), ledger.Sat(1)), stipend.EINVALID},
			{"zero", ledger.Transfer("t5", ledger.KindTransfer, aliceAddr, bobAddr, ledger.Sat(0)), stipend.EINVALID},
			{"unbalanced", ledger.NewTransaction{Key: "t6", Kind: "transfer", Entries: []ledger.Entry{
				{Address: aliceAddr, Asset: ledger.BTC, Amount: -5}, {Address: bobAddr, Asset: ledger.BTC, Amount: 4}}}, stipend.EINVALID},
			{"two assets", ledger.NewTransaction{Key: "t7", Kind: "transfer", Entries: []ledger.Entry{
				{Address: aliceAddr, Asset: ledger.BTC, Amount: -5}, {Address: bobAddr, Asset: ledger.USD, Amount: 5}}}, stipend.EINVALID},
			{"no key", ledger.Transfer("", ledger.KindTransfer, aliceAddr, bobAddr, ledger.Sat(1)), stipend.EINVALID},
			{"overflowing credit", ledger.NewTransaction{Key: "t8", Kind: "transfer", Entries: []ledger.Entry{
				{Address: ledger.ExternalAddress("a"), Asset: ledger.BTC, Amount: -math.MaxInt64}, {Address: aliceAddr, Asset: ledger.BTC, Amount: math.MaxInt64}}}, stipend.EINVALID},
		}
		for _, tt := range tests {
			_, err := s.Post(ctx, tt.tx)
			if got := stipend.ErrorCode(err); got != tt.code {
				t.Errorf("%s: code = %q, want %q (%v)", tt.name, got, tt.code, err)
			}
		}
		if got := available(t, s, aliceAddr, ledger.BTC); got != 100_000 {
			t.Fatalf("alice = %d msat after refused posts, want 100000", got)
		}
		if got := available(t, s, bobAddr, ledger.BTC); got != 0 {
			t.Fatalf("bob = %d msat after refused posts, want 0", got)
		}
		checkInvariants(t, s)
	})
}

func TestReverseUndoesOnceAndNeverOverdraws(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		alice, bob := newUser(t, s, "alice"), newUser(t, s, "bob")
		c := credit(t, s, alice.ID, ledger.Cents(500, ledger.USD))
		r, err := s.Reverse(ctx, c.ID, "", "credited by mistake", "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Reverses != c.ID || r.Kind != ledger.KindReversal {
			t.Fatalf("reversal = %+v", r)
		}
		if got := available(t, s, ledger.AccountAddress(alice.ID), ledger.USD); got != 0 {
			t.Fatalf("balance after reversal = %d, want 0", got)
		}
		_, err = s.Reverse(ctx, c.ID, "another-key", "", "")
		wantCode(t, err, stipend.ECONFLICT)
		_, err = s.Reverse(ctx, r.ID, "", "", "")
		wantCode(t, err, stipend.ECONFLICT)
		_, err = s.Reverse(ctx, "tx_missing", "", "", "")
		wantCode(t, err, stipend.ENOTFOUND)

		// A credit that was spent cannot be reversed: that would overdraw the account.
		c2 := credit(t, s, alice.ID, ledger.Cents(300, ledger.USD))
		if _, err := s.Post(ctx, ledger.Transfer("spend", ledger.KindTransfer, ledger.AccountAddress(alice.ID), ledger.AccountAddress(bob.ID), ledger.Cents(200, ledger.USD))); err != nil {
			t.Fatal(err)
		}
		_, err = s.Reverse(ctx, c2.ID, "", "", "")
		wantCode(t, err, stipend.EINSUFFICIENTFUNDS)
		checkInvariants(t, s)
	})
}

func TestHoldCaptureAndRelease(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		asker, expert := newUser(t, s, "asker"), newUser(t, s, "expert")
		askerAddr := ledger.AccountAddress(asker.ID)
		credit(t, s, asker.ID, ledger.Sat(1000))

		h, err := s.Hold(ctx, ledger.NewHold{Key: "q1", Address: askerAddr, Amount: ledger.Sat(600)})
		if err != nil {
			t.Fatal(err)
		}
		if h.Status != ledger.HoldActive || h.Remaining != 600_000 {
			t.Fatalf("new hold = %+v", h)
		}
		again, err := s.Hold(ctx, ledger.NewHold{Key: "q1", Address: askerAddr, Amount: ledger.Sat(600)})
		if err != nil || again.ID != h.ID {
			t.Fatalf("replayed hold = %+v, %v; want %s", again, err, h.ID)
		}
		_, err = s.Hold(ctx, ledger.NewHold{Key: "q1", Address: askerAddr, Amount: ledger.Sat(601)})
		wantCode(t, err, stipend.EIDEMPOTENCYMISMATCH)
		_, err = s.Hold(ctx, ledger.NewHold{Key: "q2", Address: askerAddr, Amount: ledger.Sat(401)})
		wantCode(t, err, stipend.EINSUFFICIENTFUNDS)

		bs, err := s.Balances(ctx, askerAddr)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) != 1 || bs[0].Available != 400_000 || bs[0].Held != 600_000 {
			t.Fatalf("balances while held = %+v", bs)
		}

		to := []ledger.Entry{{Address: ledger.AccountAddress(expert.ID), Asset: ledger.BTC, Amount: 250_000}}
		h, err = s.Capture(ctx, h.ID, "answer-1", "answer", to)
		if err != nil {
			t.Fatal(err)
		}
		if h.Remaining != 350_000 || h.Status != ledger.HoldActive {
			t.Fatalf("after partial capture = %+v", h)
		}
		if _, err := s.Capture(ctx, h.ID, "answer-1", "answer", to); err != nil {
			t.Fatalf("retried capture: %v", err)
		}
		big := []ledger.Entry{{Address: ledger.AccountAddress(expert.ID), Asset: ledger.BTC, Amount: 350_001}}
		_, err = s.Capture(ctx, h.ID, "answer-2", "", big)
		wantCode(t, err, stipend.EINSUFFICIENTFUNDS)

		h, err = s.Release(ctx, h.ID, "deadline")
		if err != nil {
			t.Fatal(err)
		}
		if h.Status != ledger.HoldReleased || h.Remaining != 0 {
			t.Fatalf("after release = %+v", h)
		}
		_, err = s.Release(ctx, h.ID, "deadline")
		wantCode(t, err, stipend.ECONFLICT)
		_, err = s.Capture(ctx, h.ID, "answer-3", "", to)
		wantCode(t, err, stipend.ECONFLICT)
		_, err = s.Release(ctx, "hold_missing", "")
		wantCode(t, err, stipend.ENOTFOUND)

		if got := available(t, s, askerAddr, ledger.BTC); got != 750_000 {
			t.Fatalf("asker = %d msat, want 750000 (1000 sat - 250 sat captured)", got)
		}
		if got := available(t, s, ledger.AccountAddress(expert.ID), ledger.BTC); got != 250_000 {
			t.Fatalf("expert = %d msat, want 250000", got)
		}

		// A hold captured in full is closed by the capture.
		h2, err := s.Hold(ctx, ledger.NewHold{Key: "q3", Address: askerAddr, Amount: ledger.Sat(100)})
		if err != nil {
			t.Fatal(err)
		}
		h2, err = s.Capture(ctx, h2.ID, "all", "", []ledger.Entry{{Address: ledger.AccountAddress(expert.ID), Asset: ledger.BTC, Amount: 100_000}})
		if err != nil || h2.Status != ledger.HoldCaptured {
			t.Fatalf("full capture = %+v, %v", h2, err)
		}
		_, err = s.Release(ctx, h2.ID, "")
		wantCode(t, err, stipend.ECONFLICT)
		checkInvariants(t, s)
	})
}

// TestConcurrentReleaseAndCaptureResolveOnce races releases against full captures of the
// same holds: each hold ends either released or captured, never both, and the money is
// where its final state says.
func TestConcurrentReleaseAndCaptureResolveOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		asker, expert := newUser(t, s, "asker"), newUser(t, s, "expert")
		const holds = 20
		credit(t, s, asker.ID, ledger.Sat(holds*10))
		var wg sync.WaitGroup
		captured := make([]bool, holds)
		for i := 0; i < holds; i++ {
			h, err := s.Hold(ctx, ledger.NewHold{Key: fmt.Sprint("race-", i), Address: ledger.AccountAddress(asker.ID), Amount: ledger.Sat(10)})
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, err := s.Release(ctx, h.ID, "deadline")
				if err != nil && stipend.ErrorCode(err) != stipend.ECONFLICT {
					t.Errorf("release: %v", err)
				}
			}()
			go func() {
				defer wg.Done()
				_, err := s.Capture(ctx, h.ID, "answer", "", []ledger.Entry{{Address: ledger.AccountAddress(expert.ID), Asset: ledger.BTC, Amount: 10_000}})
				if err == nil {
					captured[i] = true
				} else if stipend.ErrorCode(err) != stipend.ECONFLICT {
					t.Errorf("capture: %v", err)
				}
			}()
		}
		wg.Wait()
		n := int64(0)
		for i := 0; i < holds; i++ {
			h, err := s.GetHold(ctx, ledger.HoldID(fmt.Sprint("race-", i)))
			if err != nil {
				t.Fatal(err)
			}
			if captured[i] != (h.Status == ledger.HoldCaptured) || h.Remaining != 0 {
				t.Fatalf("hold %d: captured=%v but status %s, remaining %d", i, captured[i], h.Status, h.Remaining)
			}
			if captured[i] {
				n++
			}
		}
		if got := available(t, s, ledger.AccountAddress(expert.ID), ledger.BTC); got != n*10_000 {
			t.Fatalf("expert = %d msat, want %d for %d captures", got, n*10_000, n)
		}
		if got := available(t, s, ledger.AccountAddress(asker.ID), ledger.BTC); got != (holds-n)*10_000 {
			t.Fatalf("asker = %d msat, want %d", got, (holds-n)*10_000)
		}
		checkInvariants(t, s)
	})
}

// TestConcurrentSpendsOfAWholeBalance races 200 goroutines, each trying to move the whole
// balance of one account: exactly one may succeed.
func TestConcurrentSpendsOfAWholeBalance(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		payer, payee := newUser(t, s, "payer"), newUser(t, s, "payee")
		credit(t, s, payer.ID, ledger.Sat(5000))
		const n = 200
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[string]int{}
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Post(ctx, ledger.Transfer(fmt.Sprint("spend-", i), ledger.KindTransfer,
					ledger.AccountAddress(payer.ID), ledger.AccountAddress(payee.ID), ledger.Sat(5000)))
				mu.Lock()
				codes[stipend.ErrorCode(err)]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes[""] != 1 || codes[stipend.EINSUFFICIENTFUNDS] != n-1 {
			t.Fatalf("outcomes = %v, want exactly one success and %d insufficient_funds", codes, n-1)
		}
		if got := available(t, s, ledger.AccountAddress(payee.ID), ledger.BTC); got != 5_000_000 {
			t.Fatalf("payee = %d msat, want 5000000", got)
		}
		checkInvariants(t, s)
	})
}

// TestConcurrentPostsOfOneKey races 200 posts of the same transaction: one is written and
// every caller gets it back.
func TestConcurrentPostsOfOneKey(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		alice := newUser(t, s, "alice")
		in := ledger.Transfer("same-key", ledger.KindAdminCredit, ledger.OperatorAddress, ledger.AccountAddress(alice.ID), ledger.Sat(7))
		const n = 200
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tx, err := s.Post(ctx, in)
				if err != nil {
					t.Errorf("post %d: %v", i, err)
					return
				}
				ids[i] = tx.ID
			}()
		}
		wg.Wait()
		for i := range ids {
			if ids[i] != ids[0] {
				t.Fatalf("post %d returned %s, post 0 returned %s", i, ids[i], ids[0])
			}
		}
		if got := available(t, s, ledger.AccountAddress(alice.ID), ledger.BTC); got != 7000 {
			t.Fatalf("balance = %d msat, want 7000", got)
		}
		checkInvariants(t, s)
	})
}

func TestTransactionsPageNewestFirst(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		alice, bob := newUser(t, s, "alice"), newUser(t, s, "bob")
		var want []string
		for i := 0; i < 7; i++ {
			want = append([]string{credit(t, s, alice.ID, ledger.Sat(int64(i+1))).ID}, want...)
		}
		credit(t, s, bob.ID, ledger.Sat(1))
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			page, next, err := s.Transactions(ctx, ledger.TransactionFilter{OwnerID: alice.ID, Cursor: cursor, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			for _, tx := range page {
				if len(tx.Entries) != 2 {
					t.Fatalf("transaction %s has %d entries", tx.ID, len(tx.Entries))
				}
				got = append(got, tx.ID)
			}
			if next == "" {
				break
			}
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			cursor = next
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("pages = %v, want %v", got, want)
		}
		_, _, err := s.Transactions(ctx, ledger.TransactionFilter{OwnerID: alice.ID, Cursor: "' OR 1=1 --"})
		wantCode(t, err, stipend.EINVALID)
		_, _, err = s.Transactions(ctx, ledger.TransactionFilter{OwnerID: alice.ID, Limit: 501})
		wantCode(t, err, stipend.EINVALID)
	})
}
