package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/payments/ledger"
)

// pollInterval is how often --wait asks the server whether a funding or payout has moved on.
const pollInterval = 2 * time.Second

// The states of fundings and payouts, as the API writes them.
const (
	fundingOpen     = "open"
	fundingSettled  = "settled"
	payoutSucceeded = "succeeded"
	payoutFailed    = "failed"
	payoutCancelled = "cancelled"
)

func cmdFund(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "fund AMOUNT [--account ID] [--memo M] [--wait] [--idempotency-key K]"
	fs := e.flagSet(name)
	account := fs.String("account", "", "credit this account `ID` (default: your own)")
	memo := fs.String("memo", "", "a `note` shown in the invoice and kept with the funding")
	wait := fs.Bool("wait", false, "wait until the invoice is paid or expires, and print what was credited")
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key gives the same invoice (default: a new random key)")
	pos, err := e.parseArgs(fs, synopsis, args, 1)
	if err != nil {
		return err
	}
	amt, err := parseAmount(name, pos[0])
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	var resp client.Response
	f, err := c.CreateFunding(client.WithResponse(ctx, &resp), wire.CreateFundingRequest{
		AccountID: *account, Amount: amt.Value, Asset: string(amt.Asset), Memo: *memo,
	}, *idem)
	if err != nil {
		return e.moneyError(err, &resp)
	}
	if !*wait {
		if e.json {
			return e.printRaw(resp.Body)
		}
		return e.printFunding(f, &resp)
	}

	// The invoice must reach the person before the wait: with --json, stdout is kept for the
	// final funding, so the invoice goes to stderr.
	if e.json {
		fmt.Fprintf(e.stderr, "pay this invoice: %s\n", f.Invoice)
	} else if err := e.printFunding(f, &resp); err != nil {
		return err
	}
	p := e.progress()
	final, raw, err := waitUntil(ctx, func(ctx context.Context, r *client.Response) (*wire.Funding, error) {
		return c.Funding(client.WithResponse(ctx, r), f.ID)
	}, func(f *wire.Funding) bool { return f.Status != fundingOpen }, func(f *wire.Funding) {
		p.show("waiting for the invoice to be paid (Ctrl-C stops waiting; the invoice stays payable)",
			fmt.Sprintf("waiting for the invoice to be paid: it expires in %s", until(f.ExpiresAt)))
	})
	p.done()
	if err != nil {
		return &hintedError{err: stoppedWaiting(ctx, err),
			hint: fmt.Sprintf("stopped waiting: the invoice of funding %s can still be paid until %s UTC", f.ID, f.ExpiresAt.UTC().Format(time.DateTime))}
	}
	if e.json {
		if err := e.printRaw(raw); err != nil {
			return err
		}
	} else if final.Status == fundingSettled {
		paid := final.AmountPaid
		if paid == 0 {
			paid = final.Amount
		}
		fmt.Fprintln(e.stdout)
		if err := e.printPairs(
			"status", final.Status,
			"credited", amount(paid, final.Asset),
			"account", final.AccountID,
			"transaction", final.Transaction,
			"settled (UTC)", when(final.SettledAt),
		); err != nil {
			return err
		}
	}
	if final.Status != fundingSettled {
		return fmt.Errorf("funding %s is %s: its invoice was not paid in time, and nothing was credited", final.ID, final.Status)
	}
	return nil
}

func cmdPayout(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "payout DESTINATION [AMOUNT] [--max-fee AMOUNT] [--account ID] [--wait] [--idempotency-key K]"
	fs := e.flagSet(name)
	maxFee := fs.String("max-fee", "", "the most the payment's routing may cost, as an `AMOUNT` such as \"10 sat\" (default: the server's policy)")
	account := fs.String("account", "", "pay out of this account `ID` (default: your own)")
	wait := fs.Bool("wait", false, "wait until the payout succeeds, fails or is cancelled; exit 1 unless it succeeded")
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key pays once (default: a new random key)")
	pos, err := e.parse(fs, synopsis, args)
	if err != nil {
		return err
	}
	if err := wantArgsBetween(fs, synopsis, pos, 1, 2); err != nil {
		return err
	}
	dest := strings.TrimSpace(pos[0])
	if dest == "" {
		return usageWithHelp(fs, synopsis, errors.New("DESTINATION is empty: give a BOLT11 invoice, a Lightning Address or an LNURL"))
	}
	req := wire.CreatePayoutRequest{AccountID: *account, Destination: dest}
	if len(pos) == 2 {
		amt, err := parseAmount(name, pos[1])
		if err != nil {
			return err
		}
		req.Amount, req.Asset = amt.Value, string(amt.Asset)
	} else if isAddress(dest) {
		return usageWithHelp(fs, synopsis, errors.New("a Lightning Address or LNURL needs an AMOUNT, such as \"1000 sat\""))
	}
	if *maxFee != "" {
		fee, err := ledger.ParseAmount(*maxFee)
		switch {
		case err != nil:
			return &usageError{cmd: name, err: errors.New("--max-fee: " + stipend.ErrorMessage(err))}
		case fee.Asset != ledger.BTC:
			return &usageError{cmd: name, err: fmt.Errorf("--max-fee %q: Lightning fees are paid in BTC: give sat or msat", clip(*maxFee))}
		case fee.Value < 0:
			return &usageError{cmd: name, err: errors.New("--max-fee: must not be negative")}
		}
		req.MaxFee = &fee.Value
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	var resp client.Response
	po, err := c.CreatePayout(client.WithResponse(ctx, &resp), req, *idem)
	if err != nil {
		return e.moneyError(err, &resp)
	}
	if !*wait {
		if e.json {
			return e.printRaw(resp.Body)
		}
		return e.printPayout(po, &resp)
	}

	p := e.progress()
	start := time.Now()
	final, raw, err := waitUntil(ctx, func(ctx context.Context, r *client.Response) (*wire.Payout, error) {
		return c.Payout(client.WithResponse(ctx, r), po.ID)
	}, payoutFinal, func(x *wire.Payout) {
		p.show(fmt.Sprintf("payout %s: %s (Ctrl-C stops waiting; the payout goes on)", x.ID, x.Status),
			fmt.Sprintf("payout %s: %s, %s so far", x.ID, x.Status, time.Since(start).Round(time.Second)))
	})
	p.done()
	if err != nil {
		return &hintedError{err: stoppedWaiting(ctx, err),
			hint: fmt.Sprintf("stopped waiting: payout %s goes on; see it with: stipend payouts show %s", po.ID, po.ID)}
	}
	if e.json {
		err = e.printRaw(raw)
	} else {
		err = e.printPayout(final, &resp)
	}
	if err != nil {
		return err
	}
	return payoutOutcome(final)
}

// payoutFinal reports whether a payout has ended.
func payoutFinal(p *wire.Payout) bool {
	return p.Status == payoutSucceeded || p.Status == payoutFailed || p.Status == payoutCancelled
}

// payoutOutcome turns a payout that ended without paying into an error, which exits 1.
func payoutOutcome(p *wire.Payout) error {
	switch p.Status {
	case payoutFailed:
		reason := p.Failure
		if reason == "" {
			reason = "no reason was given"
		}
		return fmt.Errorf("payout %s failed: %s; its money returned to account %s", p.ID, oneLine(reason), p.AccountID)
	case payoutCancelled:
		return fmt.Errorf("payout %s was cancelled; its money returned to account %s", p.ID, p.AccountID)
	}
	return nil
}

func cmdPayouts(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "payouts [--account ID] [--limit N] [--cursor C] [--all]\n" +
		"       stipend payouts show ID\n" +
		"       stipend payouts cancel ID [--idempotency-key K]"
	fs := e.flagSet(name)
	account := fs.String("account", "", "an account `ID` you may read (default: your own)")
	pages := pagingFlags(fs, "payouts")
	pos, err := e.parse(fs, synopsis, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageWithHelp(fs, synopsis, fmt.Errorf("unknown subcommand %q: use show or cancel", clip(pos[0])))
	}
	if err := pages.check(fs, synopsis); err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}

	var page wire.PayoutPage
	raw, err := pages.walk(ctx, func(ctx context.Context, cursor string, size int) (string, error) {
		p, err := c.Payouts(ctx, *account, cursor, size)
		if err != nil {
			return "", err
		}
		page.AccountID = p.AccountID
		page.Data = append(page.Data, p.Data...)
		page.NextCursor = p.NextCursor
		return p.NextCursor, nil
	})
	if err != nil {
		return err
	}

	if e.json {
		if pages.all {
			// Several responses make one result, encoded in the shape of a single page.
			if page.Data == nil {
				page.Data = []wire.Payout{}
			}
			return e.printJSON(page)
		}
		return e.printRaw(raw)
	}
	if len(page.Data) == 0 {
		fmt.Fprintf(e.stdout, "account %s has no payouts\n", page.AccountID)
	} else {
		tw := e.table()
		fmt.Fprintln(tw, "CREATED (UTC)\tPAYOUT\tSTATUS\tAMOUNT\tFEE PAID\tDESTINATION\tSOURCE")
		for _, p := range page.Data {
			fee := "-"
			if p.Status == payoutSucceeded {
				fee = amount(p.FeePaid, p.Asset)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.CreatedAt.UTC().Format(time.DateTime), p.ID, p.Status,
				amount(p.Amount, p.Asset), fee, shorten(oneLine(p.Destination)), p.Source)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	pages.more(e, "payouts", page.NextCursor)
	return nil
}

func cmdPayoutsShow(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "payouts show ID"
	pos, err := e.parseArgs(e.flagSet(name), synopsis, args, 1)
	if err != nil {
		return err
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Payout, error) {
		return c.Payout(ctx, pos[0])
	}, func(p *wire.Payout) error {
		return e.printPayout(p, nil)
	})
}

func cmdPayoutsCancel(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "payouts cancel ID [--idempotency-key K]"
	fs := e.flagSet(name)
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key cancels once (default: a new random key)")
	pos, err := e.parseArgs(fs, synopsis, args, 1)
	if err != nil {
		return err
	}
	return moneyRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Payout, error) {
		return c.CancelPayout(ctx, pos[0], *idem)
	}, e.printPayout)
}

func cmdPreferences(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "preferences [--account ID]\n" +
		"       stipend preferences set ASSET --rail lightning|keep [--to ADDRESS] [--minimum AMOUNT] [--account ID]"
	fs := e.flagSet(name)
	account := fs.String("account", "", "an account `ID` you may read (default: your own)")
	pos, err := e.parse(fs, synopsis, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageWithHelp(fs, synopsis, fmt.Errorf("unknown subcommand %q: use set", clip(pos[0])))
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.PayoutPreferences, error) {
		return c.PayoutPreferences(ctx, *account)
	}, func(ps *wire.PayoutPreferences) error {
		if len(ps.Data) == 0 {
			fmt.Fprintf(e.stdout, "account %s has no payout preferences: every balance is kept\n", ps.AccountID)
			return nil
		}
		fmt.Fprintf(e.stdout, "account %s\n\n", ps.AccountID)
		tw := e.table()
		fmt.Fprintln(tw, "ASSET\tRAIL\tDESTINATION\tMINIMUM\tUPDATED (UTC)")
		for _, p := range ps.Data {
			dest, minimum := "-", "-"
			if p.Rail != "keep" {
				dest, minimum = shorten(oneLine(p.Destination)), amount(p.Minimum, p.Asset)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Asset, p.Rail, dest, minimum, p.UpdatedAt.UTC().Format(time.DateTime))
		}
		return tw.Flush()
	})
}

func cmdPreferencesSet(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "preferences set ASSET --rail lightning|keep [--to ADDRESS] [--minimum AMOUNT] [--account ID]"
	fs := e.flagSet(name)
	rail := fs.String("rail", "", "`lightning` to sweep the balance to a Lightning Address, or keep to keep it (required)")
	to := fs.String("to", "", "the `ADDRESS` to sweep to, with --rail lightning: a Lightning Address (user@domain) or an LNURL")
	minimum := fs.String("minimum", "", "sweep whenever the available balance reaches this `AMOUNT`, such as \"10000 sat\", with --rail lightning")
	account := fs.String("account", "", "set the preference of this account `ID` (default: your own)")
	pos, err := e.parseArgs(fs, synopsis, args, 1)
	if err != nil {
		return err
	}
	refuse := func(err error) error { return usageWithHelp(fs, synopsis, err) }
	asset, err := ledger.ParseAsset(strings.ToUpper(pos[0]))
	if err != nil {
		return refuse(errors.New("ASSET: " + stipend.ErrorMessage(err)))
	}
	req := wire.SetPayoutPreferenceRequest{AccountID: *account, Rail: *rail}
	switch *rail {
	case "":
		return refuse(errors.New("--rail is required: lightning or keep"))
	case "keep":
		if *to != "" || *minimum != "" {
			return refuse(errors.New("--to and --minimum go with --rail lightning; --rail keep keeps the balance"))
		}
	case "lightning":
		var missing []string
		if *to == "" {
			missing = append(missing, "--to")
		}
		if *minimum == "" {
			missing = append(missing, "--minimum")
		}
		if len(missing) > 0 {
			return refuse(fmt.Errorf("%s required with --rail lightning", strings.Join(missing, ", ")))
		}
		if !isAddress(strings.TrimSpace(*to)) {
			return refuse(errors.New("--to: give a Lightning Address (user@domain) or an LNURL, which can make an invoice for any amount"))
		}
		m, err := ledger.ParseAmount(*minimum)
		if err != nil {
			return refuse(errors.New("--minimum: " + stipend.ErrorMessage(err)))
		}
		if err := m.CheckPositive("--minimum"); err != nil {
			return refuse(errors.New(stipend.ErrorMessage(err)))
		}
		if m.Asset != asset {
			return refuse(fmt.Errorf("--minimum %q is not an amount of %s", clip(*minimum), asset))
		}
		req.Destination, req.Minimum = *to, m.Value
	default:
		return refuse(fmt.Errorf("--rail %q: must be lightning or keep", clip(*rail)))
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.PayoutPreference, error) {
		return c.SetPayoutPreference(ctx, string(asset), req)
	}, func(p *wire.PayoutPreference) error {
		pairs := []string{"asset", p.Asset, "rail", p.Rail}
		if p.Rail != "keep" {
			pairs = append(pairs, "destination", p.Destination, "minimum", amount(p.Minimum, p.Asset))
		}
		pairs = append(pairs, "updated (UTC)", p.UpdatedAt.UTC().Format(time.DateTime))
		return e.printPairs(pairs...)
	})
}

// isAddress reports whether a destination makes its own invoice for the amount asked: a
// Lightning Address (user@domain) or an LNURL. Such a destination needs an AMOUNT. The rules
// are the server's (package payments/lightning), repeated here so that the CLI does not link
// the Lightning code.
func isAddress(d string) bool {
	if user, domain, ok := strings.Cut(d, "@"); ok && user != "" && domain != "" && !strings.ContainsAny(d, " /?#") {
		return true
	}
	return strings.HasPrefix(strings.ToLower(strings.TrimPrefix(d, "lightning:")), "lnurl1")
}

// wantArgsBetween returns a usage error unless there are min to max positional arguments.
func wantArgsBetween(fs *flag.FlagSet, synopsis string, pos []string, lo, hi int) error {
	if len(pos) >= lo && len(pos) <= hi {
		return nil
	}
	var err error
	if len(pos) < lo {
		err = fmt.Errorf("needs %d to %d argument(s), got %d", lo, hi, len(pos))
	} else {
		err = fmt.Errorf("takes %d to %d argument(s), got %d (quote an amount with a space: \"2100 sat\")", lo, hi, len(pos))
	}
	return usageWithHelp(fs, synopsis, err)
}

func (e *env) printFunding(f *wire.Funding, resp *client.Response) error {
	pairs := []string{
		"funding", f.ID,
		"account", f.AccountID,
		"status", f.Status,
		"amount", amount(f.Amount, f.Asset),
		"invoice", f.Invoice,
		"payment hash", f.PaymentHash,
		"expires (UTC)", f.ExpiresAt.UTC().Format(time.DateTime),
	}
	if f.Memo != "" {
		pairs = append(pairs, "memo", f.Memo)
	}
	if f.Status == fundingSettled {
		pairs = append(pairs, "paid", amount(f.AmountPaid, f.Asset), "transaction", f.Transaction, "settled (UTC)", when(f.SettledAt))
	}
	pairs = append(pairs, "idempotency key", resp.IdempotencyKey)
	if resp.Replayed {
		pairs = append(pairs, "replayed", "yes: this key was used before, so this is the same invoice")
	}
	return e.printPairs(pairs...)
}

// printPayout shows a payout; resp, when the payout comes from a money-moving request, adds
// the idempotency key it was sent with.
func (e *env) printPayout(p *wire.Payout, resp *client.Response) error {
	pairs := []string{
		"payout", p.ID,
		"account", p.AccountID,
		"status", p.Status,
		"rail", p.Rail,
		"amount", amount(p.Amount, p.Asset),
		"fee cap", amount(p.FeeCap, p.Asset),
	}
	if p.Status == payoutSucceeded {
		pairs = append(pairs, "fee paid", amount(p.FeePaid, p.Asset))
	}
	pairs = append(pairs, "destination", p.Destination)
	if p.Invoice != "" && p.Invoice != p.Destination {
		pairs = append(pairs, "invoice", p.Invoice)
	}
	if p.PaymentHash != "" {
		pairs = append(pairs, "payment hash", p.PaymentHash)
	}
	if p.Proof != "" {
		pairs = append(pairs, "proof (preimage)", p.Proof)
	}
	if p.Failure != "" {
		pairs = append(pairs, "failure", p.Failure)
	}
	pairs = append(pairs, "source", p.Source, "created (UTC)", p.CreatedAt.UTC().Format(time.DateTime))
	if p.FinishedAt != nil {
		pairs = append(pairs, "finished (UTC)", when(p.FinishedAt))
	}
	if resp != nil && resp.IdempotencyKey != "" {
		pairs = append(pairs, "idempotency key", resp.IdempotencyKey)
		if resp.Replayed {
			pairs = append(pairs, "replayed", "yes: this key was used before, so nothing moved again")
		}
	}
	return e.printPairs(pairs...)
}

// waitUntil calls get until done says that its result is final, every pollInterval, calling
// show with each result that is not. It returns the final result and its raw body, or the
// first error, which is the context's when ctx ended.
func waitUntil[T any](ctx context.Context, get func(context.Context, *client.Response) (*T, error), done func(*T) bool, show func(*T)) (*T, []byte, error) {
	for {
		var resp client.Response
		x, err := get(ctx, &resp)
		if err != nil {
			return nil, nil, err
		}
		if done(x) {
			return x, resp.Body, nil
		}
		show(x)
		if err := sleepCtx(ctx, pollInterval); err != nil {
			return nil, nil, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// stoppedWaiting replaces the error of a wait that was interrupted (Ctrl-C) by words a
// person expects; any other error is kept.
func stoppedWaiting(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return err
}

// hintedError is an error followed by a line of advice, such as how to look at a payout
// that the command stopped following. report prints the error as usual and then the hint.
type hintedError struct {
	err  error
	hint string
}

func (h *hintedError) Error() string { return h.err.Error() + "\n" + h.hint }

func (h *hintedError) Unwrap() error { return h.err }

// progress is the status line a command shows on stderr while it waits. On a terminal the
// line is rewritten in place and may count time; elsewhere (a pipe, a log) each new status is
// printed once, on a line of its own.
type progress struct {
	w    io.Writer
	tty  bool
	last string
}

func (e *env) progress() *progress {
	return &progress{w: e.stderr, tty: isTerminal(e.stderr)}
}

// show prints plain, or on a terminal live, unless it is what is already shown.
func (p *progress) show(plain, live string) {
	s := plain
	if p.tty {
		s = live
	}
	if s == p.last {
		return
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", s)
	} else {
		fmt.Fprintln(p.w, s)
	}
	p.last = s
}

// done ends the line a terminal was shown.
func (p *progress) done() {
	if p.tty && p.last != "" {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// until says how long is left before t, to the second, and "0s" once it has passed.
func until(t time.Time) time.Duration {
	return max(time.Until(t), 0).Round(time.Second)
}

// shorten keeps a long destination, such as a BOLT11 invoice, to a table's width: its start
// and its end, which are the parts people compare.
func shorten(s string) string {
	r := []rune(s)
	if len(r) <= 40 {
		return s
	}
	return string(r[:24]) + "…" + string(r[len(r)-12:])
}
