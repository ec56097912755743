package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/payments/ledger"
)

// Kinds and approval modes of a bounty, as the API writes them.
const (
	kindTestRun    = "test_run"
	approvalCI     = "ci"
	approvalReview = "review"
)

func cmdBountyCreate(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "bounty create --kind K --title T --reward AMOUNT --units N --deadline TIME|DURATION [--approval ci|review]\n" +
		"       [--reviewer H ...] [--link URL] [--description D] [--claim-window DURATION] [--sponsor ID] [--idempotency-key K]"
	fs := e.flagSet(name)
	kind := fs.String("kind", "", "`test_run`, docs, triage or custom (required)")
	title := fs.String("title", "", "a short `title` (required)")
	reward := fs.String("reward", "", "the reward paid per accepted unit, an `AMOUNT` such as \"50 sat\" (required)")
	units := fs.Int("units", 0, "how many units to fund; each is paid once (required)")
	deadline := fs.String("deadline", "", "when the bounty ends: a `time` in RFC 3339 (2030-07-01T12:00:00Z) or a duration from now (72h, 7d) (required)")
	approval := fs.String("approval", "", "`ci` (results reported by CI pay) or review (a reviewer approves each submission) (default: ci for test_run, review otherwise)")
	var reviewers listFlag
	fs.Var(&reviewers, "reviewer", "an account `ID` or handle that may approve submissions besides the sponsor; repeat for more")
	link := fs.String("link", "", "a `URL` about the task, such as its issue")
	description := fs.String("description", "", "a longer `description` of the task")
	claimWindow := fs.String("claim-window", "", "let contributors reserve a unit for this `duration` while they work, such as 48h or 2d (default: no claims)")
	sponsor := fs.String("sponsor", "", "fund the bounty from this organisation `ID` you own (default: your own account)")
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key creates and funds one bounty (default: a new random key)")
	if _, err := e.parseArgs(fs, synopsis, args, 0); err != nil {
		return err
	}
	refuse := func(err error) error { return usageWithHelp(fs, synopsis, err) }
	var missing []string
	for _, f := range []struct{ flag, value string }{{"--kind", *kind}, {"--title", *title}, {"--reward", *reward}, {"--deadline", *deadline}} {
		if f.value == "" {
			missing = append(missing, f.flag)
		}
	}
	if *units == 0 {
		missing = append(missing, "--units")
	}
	if len(missing) > 0 {
		return refuse(fmt.Errorf("%s required", strings.Join(missing, ", ")))
	}
	amt, err := ledger.ParseAmount(*reward)
	if err == nil {
		err = amt.CheckPositive("--reward")
	}
	if err != nil {
		return refuse(errors.New(stipend.ErrorMessage(err)))
	}
	if *units < 1 {
		return refuse(fmt.Errorf("--units %d: must be at least 1", *units))
	}
	end, err := parseDeadline(*deadline, time.Now())
	if err != nil {
		return refuse(err)
	}
	req := wire.CreateBountyRequest{
		SponsorID: *sponsor, Kind: *kind, Title: *title, Description: *description, Link: *link,
		Reward: wire.MoneyRequest{Amount: amt.Value, Asset: string(amt.Asset)}, Units: *units,
		Approval: *approval, Reviewers: reviewers, Deadline: end,
	}
	if req.Approval == "" {
		req.Approval = approvalReview
		if req.Kind == kindTestRun {
			req.Approval = approvalCI
		}
	}
	if *claimWindow != "" {
		d, err := parseDays(*claimWindow)
		if err != nil || d < 0 {
			return refuse(fmt.Errorf("--claim-window %q: give a duration such as 48h or 2d", clip(*claimWindow)))
		}
		req.ClaimWindow = int64(d / time.Second)
	}
	return moneyRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Bounty, error) {
		return c.CreateBounty(ctx, req, *idem)
	}, e.printBounty)
}

// parseDeadline reads --deadline: a time in RFC 3339, or a duration from now.
func parseDeadline(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	d, err := parseDays(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("--deadline %q: give a time in RFC 3339, such as 2030-07-01T12:00:00Z, or a duration from now, such as 72h or 7d", clip(s))
	}
	return now.Add(d).UTC().Truncate(time.Second), nil
}

// parseDays reads a duration as Go writes it ("72h", "90m"), with days in front if need be
// ("7d", "1d12h"), since people count a bounty's time in days.
func parseDays(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		return time.ParseDuration(s)
	}
	n, err := strconv.Atoi(days)
	if err != nil || n < 0 || n > 10_000 || !allDigits(days) {
		return 0, fmt.Errorf("%q: not a number of days", days)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 {
			return 0, fmt.Errorf("%q: not a duration", rest)
		}
		d += r
	}
	return d, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func cmdBountyList(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "bounty list [--status S] [--kind K] [--q WORDS] [--sponsor ID] [--limit N] [--cursor C] [--all]"
	fs := e.flagSet(name)
	status := fs.String("status", "", "only bounties in this `status`: open, cancelled or expired")
	kind := fs.String("kind", "", "only bounties of this `kind`: test_run, docs, triage or custom")
	query := fs.String("q", "", "only bounties with these `words` in the title or description")
	sponsor := fs.String("sponsor", "", "only the bounties of this sponsor's account `ID`")
	pages := pagingFlags(fs, "bounties")
	if _, err := e.parseArgs(fs, synopsis, args, 0); err != nil {
		return err
	}
	if err := pages.check(fs, synopsis); err != nil {
		return err
	}
	c, err := e.publicClient()
	if err != nil {
		return err
	}

	var page wire.BountyPage
	raw, err := pages.walk(ctx, func(ctx context.Context, cursor string, size int) (string, error) {
		p, err := c.Bounties(ctx, client.BountyFilter{Status: *status, Kind: *kind, SponsorID: *sponsor, Query: *query, Cursor: cursor, Limit: size})
		if err != nil {
			return "", err
		}
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
				page.Data = []wire.Bounty{}
			}
			return e.printJSON(page)
		}
		return e.printRaw(raw)
	}
	if len(page.Data) == 0 {
		fmt.Fprintln(e.stdout, "no bounties")
	} else {
		tw := e.table()
		fmt.Fprintln(tw, "CREATED (UTC)\tBOUNTY\tSTATUS\tKIND\tREWARD\tUNITS LEFT\tDEADLINE (UTC)\tTITLE")
		for _, b := range page.Data {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d of %d\t%s\t%s\n", b.CreatedAt.UTC().Format(time.DateTime), b.ID, b.Status, b.Kind,
				amount(b.Reward.Amount, b.Reward.Asset), b.Units-b.UnitsPaid, b.Units, b.Deadline.UTC().Format(time.DateTime), oneLine(b.Title))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	pages.more(e, "bounty list", page.NextCursor)
	return nil
}

func cmdBountyShow(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "bounty show ID"
	pos, err := e.parseArgs(e.flagSet(name), synopsis, args, 1)
	if err != nil {
		return err
	}
	return publicRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.BountyStatement, error) {
		return c.BountyStatement(ctx, pos[0], "", 0)
	}, func(st *wire.BountyStatement) error {
		if err := e.printBounty(&st.Bounty, nil); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout)
		money := func(m wire.Money) string { return amount(m.Amount, m.Asset) }
		pairs := []string{
			"funded", fmt.Sprintf("%s (rewards %s + fees %s)", amount(st.FundedRewards.Amount+st.FundedFees.Amount, st.FundedRewards.Asset),
				money(st.FundedRewards), money(st.FundedFees)),
			"fees earned", money(st.FeesEarned),
			"paid", money(st.PaidRewards),
			"refunded", money(st.Refunded),
		}
		if st.UnclaimedReturn.Amount != 0 {
			pairs = append(pairs, "unclaimed, returned", money(st.UnclaimedReturn))
		}
		pairs = append(pairs,
			"in escrow", money(st.Escrow),
			"pending", money(st.Pending)+" (rewards waiting for GitHub logins to be linked)",
		)
		return e.printPairs(pairs...)
	})
}

func cmdBountyTopUp(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "bounty topup ID UNITS [--idempotency-key K]"
	fs := e.flagSet(name)
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key buys the units once (default: a new random key)")
	pos, err := e.parseArgs(fs, synopsis, args, 2)
	if err != nil {
		return err
	}
	units, err := strconv.Atoi(pos[1])
	if err != nil || units < 1 {
		return usageWithHelp(fs, synopsis, fmt.Errorf("UNITS %q: must be a whole number, at least 1", clip(pos[1])))
	}
	return moneyRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Bounty, error) {
		return c.TopUpBounty(ctx, pos[0], units, *idem)
	}, e.printBounty)
}

func cmdBountyCancel(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "bounty cancel ID [--idempotency-key K]"
	fs := e.flagSet(name)
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key cancels once (default: a new random key)")
	pos, err := e.parseArgs(fs, synopsis, args, 1)
	if err != nil {
		return err
	}
	return moneyRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Bounty, error) {
		return c.CancelBounty(ctx, pos[0], *idem)
	}, func(b *wire.Bounty, resp *client.Response) error {
		if err := e.printBounty(b, resp); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "\nWhat was left in escrow returned to the sponsor; see it with: stipend bounty show %s\n", b.ID)
		return nil
	})
}

func cmdBountyClaim(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "bounty claim ID"
	pos, err := e.parseArgs(e.flagSet(name), synopsis, args, 1)
	if err != nil {
		return err
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Claim, error) {
		return c.ClaimBounty(ctx, pos[0])
	}, func(cl *wire.Claim) error {
		if err := e.printClaim(cl); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "\nHand in your work before the claim expires: stipend bounty submit %s --evidence URL --claim %s\n", cl.BountyID, cl.ID)
		return nil
	})
}

func cmdBountyRelease(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "bounty release ID CLAIM"
	pos, err := e.parseArgs(e.flagSet(name), synopsis, args, 2)
	if err != nil {
		return err
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Claim, error) {
		return c.ReleaseClaim(ctx, pos[0], pos[1])
	}, e.printClaim)
}

func cmdBountySubmit(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "bounty submit ID --evidence URL [--claim CLAIM]"
	fs := e.flagSet(name)
	evidence := fs.String("evidence", "", "what shows the work, such as a pull request's `URL` (required)")
	claim := fs.String("claim", "", "the `CLAIM` this work fulfils, if you claimed a unit")
	pos, err := e.parseArgs(fs, synopsis, args, 1)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*evidence) == "" {
		return usageWithHelp(fs, synopsis, errors.New("--evidence is required"))
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Submission, error) {
		return c.Submit(ctx, pos[0], wire.CreateSubmissionRequest{Evidence: *evidence, ClaimID: *claim})
	}, func(s *wire.Submission) error { return e.printSubmission(s, nil) })
}

func cmdBountySubmissions(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "bounty submissions ID"
	pos, err := e.parseArgs(e.flagSet(name), synopsis, args, 1)
	if err != nil {
		return err
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.SubmissionList, error) {
		return c.Submissions(ctx, pos[0])
	}, func(list *wire.SubmissionList) error {
		if len(list.Data) == 0 {
			fmt.Fprintf(e.stdout, "bounty %s has no submissions you may see\n", pos[0])
			return nil
		}
		tw := e.table()
		fmt.Fprintln(tw, "CREATED (UTC)\tSUBMISSION\tACCOUNT\tSTATUS\tEVIDENCE\tREASON")
		for _, s := range list.Data {
			reason := s.Reason
			if reason == "" {
				reason = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.CreatedAt.UTC().Format(time.DateTime), s.ID, s.AccountID, s.Status,
				shorten(oneLine(s.Evidence)), oneLine(reason))
		}
		return tw.Flush()
	})
}

func cmdBountyApprove(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "bounty approve ID SUBMISSION [--idempotency-key K]"
	fs := e.flagSet(name)
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key pays once (default: a new random key)")
	pos, err := e.parseArgs(fs, synopsis, args, 2)
	if err != nil {
		return err
	}
	return moneyRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Submission, error) {
		return c.ApproveSubmission(ctx, pos[0], pos[1], *idem)
	}, e.printSubmission)
}

func cmdBountyReject(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "bounty reject ID SUBMISSION --reason R"
	fs := e.flagSet(name)
	reason := fs.String("reason", "", "why the work is not accepted, which its submitter sees (required)")
	pos, err := e.parseArgs(fs, synopsis, args, 2)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*reason) == "" {
		return usageWithHelp(fs, synopsis, errors.New("--reason is required"))
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Submission, error) {
		return c.RejectSubmission(ctx, pos[0], pos[1], *reason)
	}, func(s *wire.Submission) error { return e.printSubmission(s, nil) })
}

// printBounty shows a bounty with what it costs; resp, when the bounty comes from a
// money-moving request, adds the idempotency key it was sent with.
func (e *env) printBounty(b *wire.Bounty, resp *client.Response) error {
	asset := b.Reward.Asset
	pairs := []string{
		"bounty", b.ID,
		"title", b.Title,
		"kind", b.Kind,
		"status", b.Status,
		"sponsor", b.SponsorID,
		"reward", amount(b.Reward.Amount, asset) + " per unit",
		"fee per unit", fmt.Sprintf("%s (%s)", amount(b.FeePerUnit.Amount, asset), percent(b.FeeBPS)),
		"units", fmt.Sprintf("%d: %d paid, %d left", b.Units, b.UnitsPaid, b.Units-b.UnitsPaid),
		"total cost", fmt.Sprintf("%s (rewards %s + fees %s)", amount(b.Cost.Amount, b.Cost.Asset),
			amount(b.Reward.Amount*int64(b.Units), asset), amount(b.FeePerUnit.Amount*int64(b.Units), asset)),
		"approval", b.Approval,
	}
	if len(b.Reviewers) > 0 {
		pairs = append(pairs, "reviewers", strings.Join(b.Reviewers, " "))
	}
	claims := "none: submit without claiming"
	if b.ClaimWindow > 0 {
		claims = days(time.Duration(b.ClaimWindow) * time.Second)
	}
	if b.Approval == approvalReview {
		pairs = append(pairs, "claim window", claims)
	}
	pairs = append(pairs, "deadline (UTC)", b.Deadline.UTC().Format(time.DateTime))
	if b.Link != "" {
		pairs = append(pairs, "link", b.Link)
	}
	if b.Description != "" {
		pairs = append(pairs, "description", b.Description)
	}
	pairs = append(pairs, "created (UTC)", b.CreatedAt.UTC().Format(time.DateTime))
	if b.ClosedAt != nil {
		pairs = append(pairs, "closed (UTC)", when(b.ClosedAt))
	}
	if resp != nil && resp.IdempotencyKey != "" {
		pairs = append(pairs, "idempotency key", resp.IdempotencyKey)
		if resp.Replayed {
			pairs = append(pairs, "replayed", "yes: this key was used before, so nothing moved again")
		}
	}
	return e.printPairs(pairs...)
}

func (e *env) printClaim(c *wire.Claim) error {
	return e.printPairs(
		"claim", c.ID,
		"bounty", c.BountyID,
		"account", c.AccountID,
		"status", c.Status,
		"expires (UTC)", c.ExpiresAt.UTC().Format(time.DateTime),
	)
}

// printSubmission shows a submission; resp, when it comes from an approval, adds the
// idempotency key the approval was sent with.
func (e *env) printSubmission(s *wire.Submission, resp *client.Response) error {
	pairs := []string{"submission", s.ID, "bounty", s.BountyID, "account", s.AccountID, "status", s.Status, "evidence", s.Evidence}
	if s.ClaimID != "" {
		pairs = append(pairs, "claim", s.ClaimID)
	}
	if s.Reason != "" {
		pairs = append(pairs, "reason", s.Reason)
	}
	if s.DecidedBy != "" {
		pairs = append(pairs, "decided by", s.DecidedBy, "decided (UTC)", when(s.DecidedAt))
	}
	if s.Transaction != "" {
		pairs = append(pairs, "transaction", s.Transaction)
	}
	pairs = append(pairs, "created (UTC)", s.CreatedAt.UTC().Format(time.DateTime))
	if resp != nil && resp.IdempotencyKey != "" {
		pairs = append(pairs, "idempotency key", resp.IdempotencyKey)
		if resp.Replayed {
			pairs = append(pairs, "replayed", "yes: this key was used before, so nothing was paid again")
		}
	}
	return e.printPairs(pairs...)
}

// percent writes a rate in basis points as a percentage: 250 is "2.5 %".
func percent(bps int64) string {
	s := strconv.FormatInt(bps/100, 10)
	if frac := bps % 100; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%02d", frac), "0")
	}
	return s + " %"
}

// days writes a duration with its whole days counted as days: 48h is "2d", 36h is "1d12h0m0s".
func days(d time.Duration) string {
	const day = 24 * time.Hour
	n := d / day
	switch rest := d % day; {
	case n == 0:
		return rest.String()
	case rest == 0:
		return fmt.Sprintf("%dd", n)
	default:
		return fmt.Sprintf("%dd%s", n, rest)
	}
}
