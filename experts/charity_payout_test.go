package experts_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/internal/regtest"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning"
	"github.com/stipend/stipend/payments/payout"
	"github.com/stipend/stipend/payments/payout/lnrail"
)

// TestCharityHasAnAccountAndAPayoutPreference registers charities: each gets an organisation
// account with its handle, and a Lightning destination becomes that account's payout
// preference; a handle an account already has, or a Lightning destination that cannot take any
// amount, is refused with nothing stored.
func TestCharityHasAnAccountAndAPayoutPreference(t *testing.T) {
	t.Parallel()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		w := newWorld(t, d)
		ctx := context.Background()
		a, err := w.st.Account(ctx, w.charity.AccountID)
		if err != nil || a.Kind != accounts.KindOrg || a.Handle != "eff" || a.Name != w.charity.Name {
			t.Fatalf("the charity's account: %+v, %v", a, err)
		}
		prefs, err := w.st.Preferences(ctx, w.charity.AccountID)
		if err != nil || len(prefs) != 1 || prefs[0].Rail != payout.RailLightning || prefs[0].Destination != "donate@eff.example" ||
			prefs[0].Asset != ledger.BTC || prefs[0].Minimum != experts.PayoutMinimum.Value {
			t.Fatalf("the charity's payout preferences: %+v, %v", prefs, err)
		}
		onchain, err := w.svc.CreateCharity(ctx, w.ops, experts.NewCharity{Handle: "girlscode", Name: "Girls Code", Receipt: "Girls Code e.V.",
			Destinations: map[string]string{"onchain": "bcrt1qexample"}})
		if err != nil {
			t.Fatal(err)
		}
		if prefs, err := w.st.Preferences(ctx, onchain.AccountID); err != nil || len(prefs) != 0 {
			t.Fatalf("a charity without a Lightning destination has preferences %+v, %v", prefs, err)
		}
		for _, tt := range []struct {
			name string
			n    experts.NewCharity
			code string
		}{
			{"a handle an account has", experts.NewCharity{Handle: w.asker.Account.Handle, Name: "Taken", Receipt: "R",
				Destinations: map[string]string{"lightning": "give@taken.example"}}, stipend.ECONFLICT},
			{"a handle a charity has", experts.NewCharity{Handle: "eff", Name: "Again", Receipt: "R",
				Destinations: map[string]string{"lightning": "give@again.example"}}, stipend.ECONFLICT},
			{"an invoice for a destination", experts.NewCharity{Handle: "onetime", Name: "One time", Receipt: "R",
				Destinations: map[string]string{"lightning": "lnbcrt10u1pexample"}}, stipend.EINVALID},
			{"a handle of 40 characters", experts.NewCharity{Handle: "a123456789012345678901234567890123456789", Name: "Long",
				Receipt: "R", Destinations: map[string]string{"lightning": "give@long.example"}}, stipend.EINVALID},
		} {
			_, err := w.svc.CreateCharity(ctx, w.ops, tt.n)
			if stipend.ErrorCode(err) != tt.code {
				t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
			}
		}
		cs, err := w.svc.Charities(ctx)
		if err != nil || len(cs) != 2 {
			t.Fatalf("the registry after refusals: %d charities, %v", len(cs), err)
		}
	})
}

// TestCharityDonationsArePaidOutToItsLightningAddress answers questions whose charity share
// adds up past the payout minimum: the sweep pays the charity's account out to the Lightning
// Address it registered, on the regtest network, and the charity's balance goes to zero while
// what it received stays on record.
func TestCharityDonationsArePaidOutToItsLightningAddress(t *testing.T) {
	net := regtest.Shared(t)
	for _, dialect := range dbtest.Dialects {
		t.Run(string(dialect), func(t *testing.T) {
			w := newWorld(t, dbtest.Open(t, dialect))
			ctx := context.Background()
			charity, err := w.svc.CreateCharity(ctx, w.ops, experts.NewCharity{Handle: "lnfund", Name: "Lightning Fund", Receipt: "Lightning Fund Inc.",
				Destinations: map[string]string{"lightning": net.Payee.ServeLightningAddress(t, "donate")}})
			if err != nil {
				t.Fatal(err)
			}
			giver := w.principal(t, "giver", accounts.DefaultScopes()...)
			w.setProfile(t, giver, experts.ProfileInput{Name: "Giver", Price: ledger.Sat(10_000), AnswerWindow: time.Hour, Accepting: true,
				Charity: "lnfund", CharityShare: 5000})
			q, err := w.svc.Ask(ctx, w.asker, giver.Account.Handle, "What should I donate to?", "", stipend.NewID("idem"))
			if err != nil {
				t.Fatal(err)
			}
			answered, err := w.svc.Answer(ctx, giver, q.ID, "This fund.")
			if err != nil {
				t.Fatal(err)
			}
			donated := answered.Parts.Charity // half of 10,000 sat less the 5 % fee: 4,750 sat
			if donated != 4_750_000 {
				t.Fatalf("donated %d msat, want 4750000", donated)
			}

			payeeBefore := net.Payee.SettledBalance(t)
			node := net.Platform.Client(t)
			payouts := payout.NewService(w.st, accounts.NewService(w.st, nil),
				[]payout.Rail{lnrail.New(node, "regtest", lnrail.Options{Resolver: &lightning.Resolver{Network: "regtest", AllowInsecure: true}})},
				payout.Options{SweepInterval: time.Second})
			if err := payouts.HandleSweep(ctx, jobs.Job{}); err != nil {
				if _, ok := jobs.IsSnooze(err); !ok {
					t.Fatal(err)
				}
			}
			list, _, err := payouts.List(ctx, w.ops, charity.AccountID, "", 0)
			if err != nil || len(list) != 1 || list[0].Source != payout.SourceSweep {
				t.Fatalf("the charity's payouts after a sweep: %+v, %v", list, err)
			}
			payload, _ := json.Marshal(payout.SendJob{PayoutID: list[0].ID})
			if err := payouts.HandleSend(ctx, jobs.Job{Kind: payout.JobSend, Payload: payload, Attempt: 1, MaxAttempts: 10}); err != nil {
				t.Fatal(err)
			}
			p, err := payouts.Get(ctx, w.ops, list[0].ID)
			if err != nil || p.Status != payout.Succeeded {
				t.Fatalf("the charity's payout: %+v, %v", p, err)
			}
			if got := net.Payee.SettledBalance(t) - payeeBefore; got != p.Amount.Value {
				t.Fatalf("the charity's node received %d msat, the payout says %d", got, p.Amount.Value)
			}
			after, err := w.svc.Charity(ctx, "lnfund")
			if err != nil || len(after.Received) != 1 || after.Received[0].Value != donated {
				t.Fatalf("the charity's record after the payout: %+v, %v", after, err)
			}
			// What the payout's fee cap did not use comes back, and is less than a payout.
			for _, b := range after.Balance {
				if b.Asset == ledger.BTC && b.Value >= experts.PayoutMinimum.Value {
					t.Fatalf("the charity still holds %d msat after its payout", b.Value)
				}
			}
			w.checkLedger(t)
		})
	}
}
