// Package railtest is the conformance suite every payout rail must pass: preparing refuses
// what must not be paid, sending one payout twice pays once, an outcome lost on the way back
// is recovered by asking, never by paying again, and failures are reported as outcomes, not
// errors. Each rail's tests run it against the real system behind the rail.
package railtest

import (
	"context"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/payout"
)

// Fixture is what the suite needs to drive a rail against its real system.
type Fixture struct {
	Rail payout.Rail
	// Amount is paid by every payout of the suite.
	Amount ledger.Amount
	// NewDestination returns a fresh destination that the rail can pay Amount to.
	NewDestination func(t *testing.T) string
	// Unpayable returns a fresh destination that passes Prepare but whose payment fails
	// (for Lightning: an invoice reachable only above the fee cap).
	Unpayable func(t *testing.T) string
	// Invalid are destinations Prepare must refuse with EINVALID.
	Invalid []string
	// Sent reports how many payments the rail's system holds for a payout, from the
	// sender's side (for Lightning: lnd's payments with the payout's hash).
	Sent func(t *testing.T, p *payout.Payout) int
	// FeeCap is the fee cap of the suite's payouts.
	FeeCap int64
}

// Run runs the suite.
func Run(t *testing.T, f Fixture) {
	t.Helper()
	prepare := func(t *testing.T, dest string) *payout.Payout {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		prep, err := f.Rail.Prepare(ctx, dest, f.Amount)
		if err != nil {
			t.Fatalf("Prepare(%q): %v", dest, err)
		}
		if prep.PaymentHash == "" || prep.Invoice == "" || prep.AmountMsat != f.Amount.Value {
			t.Fatalf("Prepare = %+v", prep)
		}
		return &payout.Payout{ID: stipend.NewID("po"), Rail: f.Rail.Name(), Amount: f.Amount, FeeCap: f.FeeCap,
			Destination: dest, Invoice: prep.Invoice, PaymentHash: prep.PaymentHash, Status: payout.InFlight}
	}
	ctx := func(t *testing.T, d time.Duration) context.Context {
		c, cancel := context.WithTimeout(context.Background(), d)
		t.Cleanup(cancel)
		return c
	}

	t.Run("prepare refuses what must not be paid", func(t *testing.T) {
		for _, d := range f.Invalid {
			if _, err := f.Rail.Prepare(ctx(t, time.Minute), d, f.Amount); stipend.ErrorCode(err) != stipend.EINVALID {
				t.Errorf("Prepare(%.40q) = %v, want invalid", d, err)
			}
		}
	})

	t.Run("status of a payout never sent is unknown", func(t *testing.T) {
		p := prepare(t, f.NewDestination(t))
		out, err := f.Rail.Status(ctx(t, time.Minute), p)
		if err != nil || out.Status != payout.OutcomeUnknown {
			t.Fatalf("Status = %+v, %v; want unknown", out, err)
		}
		if n := f.Sent(t, p); n != 0 {
			t.Fatalf("asking for the status sent %d payments", n)
		}
	})

	t.Run("sending one payout twice pays once", func(t *testing.T) {
		p := prepare(t, f.NewDestination(t))
		first, err := f.Rail.Send(ctx(t, 2*time.Minute), p)
		if err != nil || first.Status != payout.OutcomeSucceeded || first.Proof == "" || first.FeePaid < 0 || first.FeePaid > p.FeeCap {
			t.Fatalf("first Send = %+v, %v", first, err)
		}
		again, err := f.Rail.Send(ctx(t, 2*time.Minute), p)
		if err != nil || again.Status != payout.OutcomeSucceeded || again.Proof != first.Proof {
			t.Fatalf("second Send = %+v, %v; want the first outcome", again, err)
		}
		if n := f.Sent(t, p); n != 1 {
			t.Fatalf("%d payments for one payout, want 1", n)
		}
	})

	t.Run("an outcome lost on the way back is recovered by asking", func(t *testing.T) {
		p := prepare(t, f.NewDestination(t))
		// The caller gives up almost at once, as a crashed process or a cut connection would.
		short, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		out, err := f.Rail.Send(short, p)
		cancel()
		if err == nil && out.Status == payout.OutcomeFailed {
			t.Fatalf("an interrupted Send reported failure: %+v", out)
		}
		status, err := f.Rail.Status(ctx(t, 2*time.Minute), p)
		if err != nil {
			t.Fatal(err)
		}
		if status.Status == payout.OutcomeUnknown {
			// The request never reached the rail: sending now is the first send.
			if status, err = f.Rail.Send(ctx(t, 2*time.Minute), p); err != nil {
				t.Fatal(err)
			}
		}
		if status.Status != payout.OutcomeSucceeded {
			t.Fatalf("outcome after the lost reply = %+v", status)
		}
		if again, err := f.Rail.Send(ctx(t, 2*time.Minute), p); err != nil || again.Proof != status.Proof {
			t.Fatalf("sending again after recovery = %+v, %v", again, err)
		}
		if n := f.Sent(t, p); n != 1 {
			t.Fatalf("%d payments for one payout, want 1", n)
		}
	})

	t.Run("a payment that cannot be made is a failed outcome", func(t *testing.T) {
		if f.Unpayable == nil {
			t.Skip("the fixture has no unpayable destination")
		}
		p := prepare(t, f.Unpayable(t))
		out, err := f.Rail.Send(ctx(t, 2*time.Minute), p)
		if err != nil || out.Status != payout.OutcomeFailed || out.Failure == "" {
			t.Fatalf("Send = %+v, %v; want a failed outcome with a reason", out, err)
		}
		again, err := f.Rail.Send(ctx(t, 2*time.Minute), p)
		if err != nil || again.Status != payout.OutcomeFailed {
			t.Fatalf("a failed payout sent again = %+v, %v; it must stay failed, not be retried", again, err)
		}
	})
}
