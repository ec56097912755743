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

func cmdLists(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "lists\n\nLists every list of experts that one question can go to, with the price of a response."
	if _, err := e.parseArgs(e.flagSet(name), synopsis, args, 0); err != nil {
		return err
	}
	return publicRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.ListIndex, error) {
		return c.Lists(ctx)
	}, func(index *wire.ListIndex) error {
		if len(index.Data) == 0 {
			fmt.Fprintln(e.stdout, "no lists")
			return nil
		}
		tw := e.table()
		fmt.Fprintln(tw, "HANDLE\tNAME\tPRICE PER RESPONSE\tWINDOW\tMEMBERS\tDESCRIPTION")
		for _, l := range index.Data {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", l.Handle, oneLine(l.Name), amount(l.Price.Amount, l.Price.Asset),
				days(time.Duration(l.AnswerWindow)*time.Second), len(l.Members), firstNonEmpty(shorten(oneLine(l.Description)), "-"))
		}
		return tw.Flush()
	})
}

func cmdListShow(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "list show HANDLE\n\nShows a list of experts, its price per response and its members."
	pos, err := e.parseArgs(e.flagSet(name), synopsis, args, 1)
	if err != nil {
		return err
	}
	return publicRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.List, error) {
		return c.List(ctx, pos[0])
	}, e.printList)
}

func cmdAskList(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "ask-list HANDLE QUESTION --responses N [--idempotency-key K]\n\n" +
		"Asks every member of a list one question and buys N responses at the list's price each. The\n" +
		"price × N is held on your balance: each member's reply is paid from it while responses are left,\n" +
		"and what is left at the deadline comes back."
	fs := e.flagSet(name)
	responses := fs.Int("responses", 0, "how many replies to buy, `N` from 1 to the number of members (required)")
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key asks once and holds once (default: a new random key)")
	pos, err := e.parseArgs(fs, synopsis, args, 2)
	if err != nil {
		return err
	}
	refuse := func(err error) error { return usageWithHelp(fs, synopsis, err) }
	if strings.TrimSpace(pos[1]) == "" {
		return refuse(errors.New("QUESTION is empty"))
	}
	if *responses < 1 {
		return refuse(errors.New("--responses required: how many replies to buy, 1 or more"))
	}
	return moneyRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.ListQuestion, error) {
		return c.AskList(ctx, pos[0], pos[1], *responses, *idem)
	}, func(q *wire.ListQuestion, resp *client.Response) error {
		if err := e.printListQuestion(q, resp); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "\n%s is held on your balance until %s (UTC). See the replies with: stipend list-question %s\n",
			amount(q.EscrowTotal.Amount, q.EscrowTotal.Asset), q.Deadline.UTC().Format(time.DateTime), q.ID)
		return nil
	})
}

// listQuestionList is "list-questions" and "list-inbox": one page, or every page, of list
// questions.
func listQuestionList(ctx context.Context, e *env, name string, args []string, inbox bool) error {
	synopsis := name + " [--status S] [--limit N] [--cursor C] [--all]"
	fs := e.flagSet(name)
	status := fs.String("status", "", "only questions in this `status`: open, completed or expired")
	pages := pagingFlags(fs, "questions")
	if _, err := e.parseArgs(fs, synopsis, args, 0); err != nil {
		return err
	}
	if err := pages.check(fs, synopsis); err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	get := c.ListQuestions
	if inbox {
		get = c.ListInbox
	}
	items, next, printed, err := collect(ctx, e, pages, func(ctx context.Context, cursor string, size int) ([]wire.ListQuestion, string, error) {
		p, err := get(ctx, *status, cursor, size)
		if err != nil {
			return nil, "", err
		}
		return p.Data, p.NextCursor, nil
	})
	if err != nil || printed {
		return err
	}
	if len(items) == 0 {
		fmt.Fprintln(e.stdout, "no list questions")
	} else {
		tw := e.table()
		fmt.Fprintln(tw, "CREATED (UTC)\tQUESTION\tSTATUS\tPRICE PER RESPONSE\tPAID\tDEADLINE (UTC)\tLIST\tASKER\tTEXT")
		for _, q := range items {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d of %d\t%s\t%s\t%s\t%s\n", q.CreatedAt.UTC().Format(time.DateTime), q.ID, q.Status,
				amount(q.Price.Amount, q.Price.Asset), q.Paid, q.Responses, q.Deadline.UTC().Format(time.DateTime), q.ListID, q.AskerID,
				shorten(oneLine(q.Question)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	pages.more(e, name, next)
	return nil
}

func cmdListQuestions(ctx context.Context, e *env, name string, args []string) error {
	return listQuestionList(ctx, e, name, args, false)
}

func cmdListInbox(ctx context.Context, e *env, name string, args []string) error {
	return listQuestionList(ctx, e, name, args, true)
}

func cmdListQuestion(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "list-question ID"
	pos, err := e.parseArgs(e.flagSet(name), synopsis, args, 1)
	if err != nil {
		return err
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.ListQuestion, error) {
		return c.ListQuestion(ctx, pos[0])
	}, func(q *wire.ListQuestion) error { return e.printListQuestion(q, nil) })
}

func cmdReply(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "reply ID (TEXT | --file FILE | -) [--idempotency-key K]\n\n" +
		"Replies once to a question asked of a list you are in. While responses bought are left you are paid\n" +
		"the list's price, less the platform fee and your charity's share. - or --file - reads the reply from stdin."
	fs := e.flagSet(name)
	fs.String("file", "", "read the reply from `FILE`, - for stdin")
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key pays once (default: a new random key)")
	pos, text, err := e.parseText(fs, synopsis, name, args, "reply")
	if err != nil {
		return err
	}
	return moneyRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.ListQuestion, error) {
		return c.Reply(ctx, pos[0], text, *idem)
	}, e.printListQuestion)
}

func cmdAdminListCreate(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "admin list create --handle H --name N --price AMOUNT --window DURATION --member H ... [--description D]"
	fs := e.flagSet(name)
	handle := fs.String("handle", "", "a short unique `handle`, such as kubernetes (required)")
	display := fs.String("name", "", "the list's `name` (required)")
	price := fs.String("price", "", "the price of one response, an `AMOUNT` such as \"2000 sat\" or \"5.00 USD\" (required)")
	window := fs.String("window", "", "how long members have to reply, a `duration` such as 72h or 3d, 1 hour to 30 days (required)")
	description := fs.String("description", "", "what the list answers")
	var members listFlag
	fs.Var(&members, "member", "the `handle` (or id) of an expert in the list; repeat for more (required)")
	if _, err := e.parseArgs(fs, synopsis, args, 0); err != nil {
		return err
	}
	refuse := func(err error) error { return usageWithHelp(fs, synopsis, err) }
	var missing []string
	for _, f := range []struct{ flag, value string }{{"--handle", *handle}, {"--name", *display}, {"--price", *price}, {"--window", *window},
		{"--member", members.String()}} {
		if f.value == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return refuse(fmt.Errorf("%s required", strings.Join(missing, ", ")))
	}
	amt, err := ledger.ParseAmount(*price)
	if err == nil {
		err = amt.CheckPositive("--price")
	}
	if err != nil {
		return refuse(errors.New(stipend.ErrorMessage(err)))
	}
	d, err := parseDays(*window)
	if err != nil || d <= 0 || d%time.Second != 0 {
		return refuse(fmt.Errorf("--window %q: give a duration such as 72h or 3d", clip(*window)))
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.List, error) {
		return c.CreateList(ctx, wire.CreateListRequest{Handle: *handle, Name: *display, Description: *description,
			Price: wire.MoneyRequest{Amount: amt.Value, Asset: string(amt.Asset)}, AnswerWindow: int64(d / time.Second), Members: members})
	}, e.printList)
}

func (e *env) printList(l *wire.List) error {
	pairs := []string{
		"list", l.Handle,
		"name", l.Name,
		"id", l.ID,
		"price", amount(l.Price.Amount, l.Price.Asset) + " per response",
		"answer window", days(time.Duration(l.AnswerWindow) * time.Second),
	}
	if l.Description != "" {
		pairs = append(pairs, "description", l.Description)
	}
	pairs = append(pairs, "members", strconv.Itoa(len(l.Members)), "created (UTC)", l.CreatedAt.UTC().Format(time.DateTime))
	if err := e.printPairs(pairs...); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout)
	tw := e.table()
	fmt.Fprintln(tw, "MEMBER\tNAME\tACCOUNT")
	for _, m := range l.Members {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", firstNonEmpty(m.Handle, "-"), firstNonEmpty(oneLine(m.Name), "-"), m.ID)
	}
	return tw.Flush()
}

// printListQuestion shows a list question with its terms and replies; resp, when the question
// comes from a money-moving request, adds the idempotency key it was sent with.
func (e *env) printListQuestion(q *wire.ListQuestion, resp *client.Response) error {
	a := q.Price.Asset
	escrow := amount(q.EscrowTotal.Amount, a) + " for " + strconv.Itoa(q.Responses) + " responses"
	if q.Status == "open" {
		escrow += ", held on the asker's balance"
	}
	pairs := []string{
		"list question", q.ID,
		"status", q.Status,
		"list", q.ListID,
		"asker", q.AskerID,
		"price", amount(q.Price.Amount, a) + " per response",
		"escrow", escrow,
		"paid", fmt.Sprintf("%d of %d responses", q.Paid, q.Responses),
		"platform fee", percent(q.FeeBPS) + " of the price",
		"deadline (UTC)", q.Deadline.UTC().Format(time.DateTime),
		"text", q.Question,
		"created (UTC)", q.CreatedAt.UTC().Format(time.DateTime),
	}
	if q.ClosedAt != nil {
		pairs = append(pairs, "closed (UTC)", when(q.ClosedAt))
	}
	if resp != nil && resp.IdempotencyKey != "" {
		pairs = append(pairs, "idempotency key", resp.IdempotencyKey)
		if resp.Replayed {
			pairs = append(pairs, "replayed", "yes: this key was used before, so nothing moved again")
		}
	}
	for i, r := range q.Replies {
		p := r.Parts
		paid := fmt.Sprintf("expert %s, charity %s, platform fee %s", amount(p.Earnings.Amount, a), amount(p.Charity.Amount, a), amount(p.Fee.Amount, a))
		if r.CharityID != "" {
			paid += " (" + percent(r.CharityShareBPS) + " to " + r.CharityID + ")"
		}
		pairs = append(pairs, fmt.Sprintf("reply %d", i+1), r.ExpertID+" at "+r.CreatedAt.UTC().Format(time.DateTime)+" (UTC)",
			"  answer", r.Answer, "  paid", paid, "  transaction", r.Transaction)
	}
	return e.printPairs(pairs...)
}
