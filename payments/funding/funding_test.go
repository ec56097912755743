package funding_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/regtest"
	"github.com/stipend/stipend/internal/store"
	"github.com/stipend/stipend/payments/funding"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning"
	"github.com/stipend/stipend/payments/lightning/lnd"
)

func TestMain(m *testing.M) { os.Exit(regtest.RunMain(m)) }

type world struct {
	net      *regtest.Network
	store    *store.Store
	acc      *accounts.Service
	platform *lnd.Client
	payer    *lnd.Client
	svc      *funding.Service
	nodeID   string
	admin    *accounts.Principal
}

func newWorld(t *testing.T, d *db.DB) *world {
	t.Helper()
	net := regtest.Shared(t)
	w := &world{net: net, store: store.New(d, nil), platform: net.Platform.Client(t), payer: net.Payer.Client(t)}
	w.acc = accounts.NewService(w.store, nil)
	w.svc = funding.NewService(w.store, w.acc, w.platform, funding.DefaultLimits, nil, nil)
	w.nodeID = net.Platform.PubKey
	secret, _, err := w.acc.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if w.admin, err = w.acc.Authenticate(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) user(t *testing.T) *accounts.Principal {
	t.Helper()
	ctx := context.Background()
	admin := w.admin
	a, err := w.acc.CreateAccount(ctx, admin, accounts.NewAccount{Kind: accounts.KindUser, Handle: "f" + stipend.NewID("x")[20:], Name: "funder"})
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := w.acc.CreateKey(ctx, admin, accounts.NewKey{AccountID: a.ID, Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.acc.Authenticate(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (w *world) balance(t *testing.T, accountID string) int64 {
	t.Helper()
	bs, err := w.store.Balances(context.Background(), ledger.AccountAddress(accountID))
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

// watch runs the settlement watcher until stop is called.
func (w *world) watch(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.svc.Watch(ctx, w.nodeID); close(done) }()
	return func() { cancel(); <-done }
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 1200; i++ {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestFundingIsCreditedOnceAcrossRestartsAndReplays pays a funding invoice and follows its
// settlement: the account is credited once, also after the watcher restarts, and after its
// cursor is lost and every settlement is replayed from the start.
func TestFundingIsCreditedOnceAcrossRestartsAndReplays(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		ctx := context.Background()
		u := w.user(t)
		f, err := w.svc.Create(ctx, u, "", ledger.Sat(21_000), "top up")
		if err != nil {
			t.Fatal(err)
		}
		if f.Status != funding.Open || f.Invoice == "" || len(f.PaymentHash) != 64 {
			t.Fatalf("funding = %+v", f)
		}
		stop := w.watch(t)
		p, err := w.payer.SendPayment(ctx, lightning.PaymentRequest{Invoice: f.Invoice, FeeLimitMsat: 10_000, Timeout: 30 * time.Second})
		if err != nil || p.Status != lightning.PaymentSucceeded {
			t.Fatalf("paying the funding invoice = %+v, %v", p, err)
		}
		waitFor(t, "the credit", func() bool { return w.balance(t, u.Account.ID) == 21_000_000 })
		stop()
		got, err := w.svc.Get(ctx, u, f.ID)
		if err != nil || got.Status != funding.Settled || got.AmountPaid != 21_000_000 || got.LedgerTx == "" {
			t.Fatalf("settled funding = %+v, %v", got, err)
		}

		// A restarted watcher resumes after the settlement it applied.
		stop = w.watch(t)
		time.Sleep(time.Second)
		stop()
		// A watcher that lost its cursor sees every settlement of the node again.
		if err := d.InTx(ctx, func(tx *db.Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM ln_cursors`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		stop = w.watch(t)
		waitFor(t, "the replay", func() bool {
			c, _ := w.store.SettleCursor(ctx, w.nodeID)
			return c > 0
		})
		time.Sleep(500 * time.Millisecond)
		stop()
		if got := w.balance(t, u.Account.ID); got != 21_000_000 {
			t.Fatalf("balance = %d msat after restarts and a replay, want 21000000 (credited once)", got)
		}
		page, _, err := w.store.Transactions(ctx, ledger.TransactionFilter{OwnerID: u.Account.ID})
		if err != nil || len(page) != 1 || page[0].Kind != "funding" {
			t.Fatalf("ledger = %+v, %v; want one funding transaction", page, err)
		}
	})
}

func TestFundingRefusesBadRequestsAndHidesOthersFundings(t *testing.T) {
	t.Parallel()
	w := newWorld(t, dbtest.Open(t, db.SQLite))
	ctx := context.Background()
	u, other := w.user(t), w.user(t)
	for _, tt := range []struct {
		name   string
		amount ledger.Amount
		memo   string
	}{
		{"fiat", ledger.Cents(500, ledger.USD), ""},
		{"part of a satoshi", ledger.Msat(1500), ""},
		{"zero", ledger.Sat(0), ""},
		{"too much", ledger.Sat(20_000_000), ""},
		{"a memo with a control character", ledger.Sat(10), "a\x00b"},
	} {
		_, err := w.svc.Create(ctx, u, "", tt.amount, tt.memo)
		if stipend.ErrorCode(err) != stipend.EINVALID {
			t.Errorf("%s: %v, want invalid", tt.name, err)
		}
	}
	f, err := w.svc.Create(ctx, u, "", ledger.Sat(10), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Get(ctx, other, f.ID); stipend.ErrorCode(err) != stipend.ENOTFOUND {
		t.Fatalf("another user's funding: %v, want not_found", err)
	}
	if _, err := w.svc.Create(ctx, other, u.Account.ID, ledger.Sat(10), ""); stipend.ErrorCode(err) != stipend.EFORBIDDEN {
		t.Fatalf("funding an account one cannot see: %v, want forbidden", err)
	}
}
