package main

import (
	"context"
	"fmt"
	"time"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
)

// The statuses of questions that a Lightning ask follows, as the API writes them.
const (
	questionAwaitingPayment = "awaiting_payment"
	questionOpen            = "open"
	questionUnpaid          = "unpaid"
)

// holdStateNotes explain the states of a hold invoice that do not speak for themselves.
var holdStateNotes = map[string]string{
	"open":   "not paid yet",
	"settle": "being settled",
	"cancel": "being cancelled",
	"failed": "the node refused to settle it; the operator is looking into it",
}

// askLightning asks a question paid by a hold invoice and prints the invoice. With wait it
// then follows the question until the invoice is paid (the question opens) or expires (it
// ends unpaid, which exits 1), or until timeout, unless that is 0.
func askLightning(ctx context.Context, e *env, handle, question, idem string, wait bool, timeout time.Duration) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	var resp client.Response
	q, err := c.AskExpert(client.WithResponse(ctx, &resp), handle, wire.AskRequest{Question: question, Escrow: client.EscrowLightning}, idem)
	if err != nil {
		return e.moneyError(err, &resp)
	}
	invoice := ""
	if q.Invoice != nil {
		invoice = q.Invoice.PaymentRequest
	}
	if !wait {
		if e.json {
			return e.printRaw(resp.Body)
		}
		if err := e.printQuestion(q, &resp); err != nil {
			return err
		}
		if q.Status == questionAwaitingPayment && q.Invoice != nil {
			fmt.Fprintf(e.stderr, "\nPay the invoice by %s (UTC): the question opens when the payment is held, which is taken only if\n"+
				"the expert answers. Follow it with: stipend question %s\n", q.Invoice.ExpiresAt.UTC().Format(time.DateTime), q.ID)
		}
		return nil
	}

	// The invoice must reach the person before the wait: with --json, stdout is kept for the
	// final question, so the invoice goes to stderr.
	if e.json {
		if invoice != "" {
			fmt.Fprintf(e.stderr, "pay this invoice: %s\n", invoice)
		}
	} else if err := e.printQuestion(q, &resp); err != nil {
		return err
	}
	waitCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	p := e.progress()
	final, raw, err := waitUntil(waitCtx, func(ctx context.Context, r *client.Response) (*wire.Question, error) {
		return c.Question(client.WithResponse(ctx, r), q.ID)
	}, func(x *wire.Question) bool { return x.Status != questionAwaitingPayment }, func(x *wire.Question) {
		live := "waiting for the invoice to be paid"
		if x.Invoice != nil {
			live += ": it expires in " + until(x.Invoice.ExpiresAt).String()
		}
		p.show("waiting for the invoice to be paid (Ctrl-C stops waiting; the invoice stays payable)", live)
	})
	p.done()
	if err != nil {
		stopped := stoppedWaiting(ctx, err)
		if ctx.Err() == nil && waitCtx.Err() != nil {
			stopped = fmt.Errorf("question %s was not paid within --timeout %s", q.ID, timeout)
		}
		hint := "stopped waiting: follow the question with: stipend question " + q.ID
		if q.Invoice != nil {
			hint = fmt.Sprintf("stopped waiting: its invoice can still be paid until %s UTC; follow the question with: stipend question %s",
				q.Invoice.ExpiresAt.UTC().Format(time.DateTime), q.ID)
		}
		return &hintedError{err: stopped, hint: hint}
	}
	if e.json {
		if err := e.printRaw(raw); err != nil {
			return err
		}
	} else if err := e.printPaidQuestion(final); err != nil {
		return err
	}
	if final.Status == questionUnpaid {
		return fmt.Errorf("question %s ended unpaid: its invoice was not paid in time, and nothing was charged", final.ID)
	}
	return nil
}

// printPaidQuestion shows what changed when a question's invoice was paid: an open question's
// escrow and deadline, now fixed, with a note on what happens to the payment. A question that
// moved on further while the command looked away is shown whole; an unpaid one is left to
// the error that follows.
func (e *env) printPaidQuestion(q *wire.Question) error {
	switch q.Status {
	case questionUnpaid:
		return nil
	case questionOpen:
	default:
		fmt.Fprintln(e.stdout)
		return e.printQuestion(q, nil)
	}
	fmt.Fprintln(e.stdout)
	if err := e.printPairs(
		"question", q.ID,
		"status", q.Status,
		"price", amount(q.Price.Amount, q.Price.Asset)+", "+escrowOf(q),
		"deadline (UTC)", q.Deadline.UTC().Format(time.DateTime),
	); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "\nThe payment is held until %s (UTC): it is taken only if the expert answers by then, and goes\n"+
		"back to the wallet that paid it otherwise. See the answer with: stipend question %s\n", q.Deadline.UTC().Format(time.DateTime), q.ID)
	return nil
}

// escrowOf describes how a question's price is held: on the asker's balance, or by a
// Lightning hold invoice, in the state it is in.
func escrowOf(q *wire.Question) string {
	if q.Escrow != client.EscrowLightning {
		return "held on the asker's balance"
	}
	return "held by a Lightning hold invoice (" + holdState(q.Invoice, true) + ")"
}

// escrowColumn is escrowOf for a table: balance, or lightning and the invoice's state.
func escrowColumn(q *wire.Question) string {
	if q.Escrow != client.EscrowLightning {
		return firstNonEmpty(q.Escrow, client.EscrowBalance)
	}
	return "lightning (" + holdState(q.Invoice, false) + ")"
}

// holdState is the state of a question's hold invoice; long adds what a state means when its
// name does not say.
func holdState(inv *wire.HoldInvoice, long bool) string {
	if inv == nil {
		return "unknown"
	}
	if note := holdStateNotes[inv.State]; long && note != "" {
		return inv.State + ": " + note
	}
	return inv.State
}
