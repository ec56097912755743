package store

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/payments/ledger"
)

var (
	propertySeed      = flag.Uint64("ledger.seed", 1, "first seed of the ledger property test")
	propertySequences = flag.Int("ledger.sequences", 1000, "number of random sequences the ledger property test runs per database")
)

// TestLedgerProperty runs seeded random sequences of ledger operations (credits, transfers,
// holds, captures, releases, reversals, replays and overdraft attempts) against a small
// in-memory model of what the ledger must do. After every step the store's balances equal the
// model's, the sequence's entries sum to zero per asset and no bounded account is negative;
// the whole ledger is checked every hundred sequences and at the end.
//
// A failure names its seed; replay just that sequence with
//
//	go test ./internal/store -run TestLedgerProperty -ledger.seed=SEED -ledger.sequences=1
func TestLedgerProperty(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		s := New(d, nil)
		seeds := make(chan uint64)
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seed := range seeds {
					if err := runSequence(s, seed); err != nil {
						t.Errorf("seed %d: %v\nreplay: go test ./internal/store -run 'TestLedgerProperty/%s' -ledger.seed=%d -ledger.sequences=1",
							seed, err, d.Dialect(), seed)
					}
				}
			}()
		}
		for i := 0; i < *propertySequences && !t.Failed(); i++ {
			seeds <- *propertySeed + uint64(i)
			if i%100 == 99 {
				checkInvariants(t, s)
			}
		}
		close(seeds)
		wg.Wait()
		checkInvariants(t, s)
	})
}

// model is what the ledger should hold for one sequence's accounts.
type model struct {
	balances map[string]map[ledger.Asset]int64
	txs      []modelTx
	holds    []*modelHold
}

type modelTx struct {
	in          ledger.NewTransaction
	id          string
	reversed    bool
	reversalKey string
}

type modelHold struct {
	id, address string
	asset       ledger.Asset
	remaining   int64
	active      bool
}

func (m *model) apply(entries []ledger.Entry) {
	for _, e := range entries {
		if m.balances[e.Address] == nil {
			m.balances[e.Address] = map[ledger.Asset]int64{}
		}
		m.balances[e.Address][e.Asset] += e.Amount
	}
}

// covers reports whether every bounded account can take the entries without going negative.
func (m *model) covers(entries []ledger.Entry) bool {
	for _, e := range entries {
		if !ledger.AllowsNegative(e.Address) && m.balances[e.Address][e.Asset]+e.Amount < 0 {
			return false
		}
	}
	return true
}

// runSequence runs one random sequence on fresh accounts and returns the first divergence.
func runSequence(s *Store, seed uint64) error {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	m := &model{balances: map[string]map[ledger.Asset]int64{}}
	external := ledger.ExternalAddress(fmt.Sprintf("seq%d", seed))
	var users []string
	for i := 0; i < 3; i++ {
		a, err := createUser(s, fmt.Sprintf("p%d", i))
		if err != nil {
			return fmt.Errorf("creating accounts: %w", err)
		}
		users = append(users, ledger.AccountAddress(a.ID))
	}
	addresses := append([]string{external}, users...)
	assets := []ledger.Asset{ledger.BTC, ledger.USD}
	key := func(step int) string { return fmt.Sprintf("prop:%d:%d", seed, step) }
	amount := func() int64 {
		if rng.IntN(4) == 0 {
			return rng.Int64N(5_000_000) + 1
		}
		return rng.Int64N(2000) + 1
	}

	steps := 5 + rng.IntN(26)
	for step := 0; step < steps; step++ {
		asset := assets[rng.IntN(len(assets))]
		var err error
		var want string // the error code the model expects
		op := rng.IntN(9)
		switch op {
		case 0, 1: // credit from outside
			to := users[rng.IntN(len(users))]
			in := ledger.Transfer(key(step), ledger.KindAdminCredit, external, to, ledger.Amount{Value: amount(), Asset: asset})
			var tx *ledger.Transaction
			tx, err = s.Post(ctx, in)
			if err == nil {
				m.apply(in.Entries)
				m.txs = append(m.txs, modelTx{in: in, id: tx.ID})
			}
		case 2, 3: // transfer, which may try to overdraw
			from, to := users[rng.IntN(len(users))], users[rng.IntN(len(users))]
			if from == to {
				continue
			}
			in := ledger.Transfer(key(step), ledger.KindTransfer, from, to, ledger.Amount{Value: amount(), Asset: asset})
			if !m.covers(in.Entries) {
				want = stipend.EINSUFFICIENTFUNDS
			}
			var tx *ledger.Transaction
			tx, err = s.Post(ctx, in)
			if err == nil {
				m.apply(in.Entries)
				m.txs = append(m.txs, modelTx{in: in, id: tx.ID})
			}
		case 4: // hold
			from := users[rng.IntN(len(users))]
			n := ledger.NewHold{Key: key(step), Address: from, Amount: ledger.Amount{Value: amount(), Asset: asset}}
			id := ledger.HoldID(n.Key)
			entries := []ledger.Entry{{Address: from, Asset: asset, Amount: -n.Amount.Value}}
			if !m.covers(entries) {
				want = stipend.EINSUFFICIENTFUNDS
			}
			_, err = s.Hold(ctx, n)
			if err == nil {
				m.apply(entries)
				m.holds = append(m.holds, &modelHold{id: id, address: from, asset: asset, remaining: n.Amount.Value, active: true})
			}
		case 5: // capture part of a hold, sometimes more than is left
			if len(m.holds) == 0 {
				continue
			}
			h := m.holds[rng.IntN(len(m.holds))]
			to := users[rng.IntN(len(users))]
			c := 1 + rng.Int64N(max(1, h.remaining*5/4))
			switch {
			case !h.active:
				want = stipend.ECONFLICT
			case c > h.remaining:
				want = stipend.EINSUFFICIENTFUNDS
			}
			_, err = s.Capture(ctx, h.id, key(step), "", []ledger.Entry{{Address: to, Asset: h.asset, Amount: c}})
			if err == nil {
				m.apply([]ledger.Entry{{Address: to, Asset: h.asset, Amount: c}})
				h.remaining -= c
				h.active = h.remaining > 0
			}
		case 6: // release a hold
			if len(m.holds) == 0 {
				continue
			}
			h := m.holds[rng.IntN(len(m.holds))]
			if !h.active {
				want = stipend.ECONFLICT
			}
			_, err = s.Release(ctx, h.id, "")
			if err == nil {
				m.apply([]ledger.Entry{{Address: h.address, Asset: h.asset, Amount: h.remaining}})
				h.remaining, h.active = 0, false
			}
		case 7: // reverse an earlier transaction
			if len(m.txs) == 0 {
				continue
			}
			mt := &m.txs[rng.IntN(len(m.txs))]
			var neg []ledger.Entry
			for _, e := range mt.in.Entries {
				neg = append(neg, ledger.Entry{Address: e.Address, Asset: e.Asset, Amount: -e.Amount})
			}
			// The default key makes a retried reversal a replay; a new key makes it a
			// second reversal, which the ledger refuses.
			rkey, effective := "", "reversal:"+mt.id
			if rng.IntN(2) == 0 {
				rkey, effective = key(step), key(step)
			}
			switch {
			case mt.reversed && effective == mt.reversalKey:
				neg = nil
			case mt.reversed:
				want = stipend.ECONFLICT
			case !m.covers(neg):
				want = stipend.EINSUFFICIENTFUNDS
			}
			_, err = s.Reverse(ctx, mt.id, rkey, "", "")
			if err == nil {
				m.apply(neg)
				if !mt.reversed {
					mt.reversed, mt.reversalKey = true, effective
				}
			}
		case 8: // replay an earlier post: nothing may change
			if len(m.txs) == 0 {
				continue
			}
			mt := m.txs[rng.IntN(len(m.txs))]
			var tx *ledger.Transaction
			tx, err = s.Post(ctx, mt.in)
			if err == nil && tx.ID != mt.id {
				return fmt.Errorf("step %d: replay returned %s, want %s", step, tx.ID, mt.id)
			}
		}
		if got := stipend.ErrorCode(err); got != want {
			return fmt.Errorf("step %d (op %d): error code %q, model expects %q (%v)", step, op, got, want, err)
		}
		if err := compare(ctx, s, m, addresses); err != nil {
			return fmt.Errorf("step %d (op %d): %w", step, op, err)
		}
	}
	return nil
}

// compare checks the store against the model for the sequence's accounts and holds.
func compare(ctx context.Context, s *Store, m *model, addresses []string) error {
	all := append([]string(nil), addresses...)
	for _, h := range m.holds {
		all = append(all, ledger.HoldAddress(h.id))
		if m.balances[ledger.HoldAddress(h.id)] == nil {
			m.balances[ledger.HoldAddress(h.id)] = map[ledger.Asset]int64{}
		}
		m.balances[ledger.HoldAddress(h.id)][h.asset] = h.remaining
	}
	args := make([]any, len(all))
	for i, a := range all {
		args[i] = a
	}
	// Cached balances and entry sums, per account and asset, must both equal the model.
	rows, err := s.db.Query(ctx, `SELECT b.address, b.asset, b.balance,
		(SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entries e WHERE e.address = b.address AND e.asset = b.asset)
		FROM ledger_balances b WHERE b.address IN (`+placeholders(len(all))+`)`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	stored := map[string]map[ledger.Asset]int64{}
	perAsset := map[string]int64{}
	for rows.Next() {
		var address, asset string
		var balance, sum int64
		if err := rows.Scan(&address, &asset, &balance, &sum); err != nil {
			return err
		}
		if balance != sum {
			return fmt.Errorf("%s %s: cached balance %d, entries sum to %d", address, asset, balance, sum)
		}
		if balance < 0 && !ledger.AllowsNegative(address) {
			return fmt.Errorf("%s %s: bounded account at %d", address, asset, balance)
		}
		if stored[address] == nil {
			stored[address] = map[ledger.Asset]int64{}
		}
		stored[address][ledger.Asset(asset)] = balance
		perAsset[asset] += sum
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for asset, sum := range perAsset {
		if sum != 0 {
			return fmt.Errorf("the sequence's entries in %s sum to %d", asset, sum)
		}
	}
	for _, address := range all {
		for _, asset := range []ledger.Asset{ledger.BTC, ledger.USD} {
			if got, want := stored[address][asset], m.balances[address][asset]; got != want {
				return fmt.Errorf("%s %s: stored %d, model %d", address, asset, got, want)
			}
		}
	}
	return nil
}
