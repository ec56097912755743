package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/payments/ledger"
)

// maxAnswerFile bounds what "answer --file" reads. The server takes answers of up to 20,000
// characters, at most 80 KB of UTF-8; a file far larger is a mistake, not an answer.
const maxAnswerFile = 1 << 20

func cmdExpertSet(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "expert set --name N --price AMOUNT --window DURATION [--bio B] [--topic T ...]\n" +
		"       [--charity HANDLE --charity-share PERCENT] [--accepting=false]\n\n" +
		"Sets your expert profile, replacing the one before. Askers pay the price into escrow; you are paid\n" +
		"when you answer within the window, less the platform fee and the charity's share of what is left."
	fs := e.flagSet(name)
	display := fs.String("name", "", "the `name` askers see (required)")
	price := fs.String("price", "", "the price of one answer, an `AMOUNT` such as \"2000 sat\" or \"5.00 USD\" (required)")
	window := fs.String("window", "", "how long you have to answer each question, a `duration` such as 72h or 3d, 1 hour to 30 days (required)")
	bio := fs.String("bio", "", "a few words about you and what you answer")
	var topics listFlag
	fs.Var(&topics, "topic", "a `topic` you answer, such as kubernetes; repeat for more (up to 10)")
	charity := fs.String("charity", "", "the `HANDLE` (or id) of a charity that gets a share of your earnings (see stipend charities)")
	share := fs.String("charity-share", "", "the `PERCENT` of your earnings, after the platform fee, that goes to --charity, such as 25% (0% to 100%)")
	accepting := fs.Bool("accepting", true, "whether you take new questions now")
	if _, err := e.parseArgs(fs, synopsis, args, 0); err != nil {
		return err
	}
	refuse := func(err error) error { return usageWithHelp(fs, synopsis, err) }
	var missing []string
	for _, f := range []struct{ flag, value string }{{"--name", *display}, {"--price", *price}, {"--window", *window}} {
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
	req := wire.SetExpertRequest{Name: *display, Bio: *bio, Topics: topics, Price: wire.MoneyRequest{Amount: amt.Value, Asset: string(amt.Asset)},
		AnswerWindow: int64(d / time.Second), Accepting: accepting, Charity: *charity}
	if *share != "" {
		if *charity == "" {
			return refuse(errors.New("--charity-share needs --charity: name the charity it goes to"))
		}
		if req.CharityShareBPS, err = parsePercent(*share); err != nil {
			return refuse(fmt.Errorf("--charity-share %q: %w", clip(*share), err))
		}
	} else if *charity != "" {
		return refuse(errors.New("--charity needs --charity-share: say what part of your earnings goes to it, such as 25%"))
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Expert, error) {
		return c.SetExpertProfile(ctx, req)
	}, e.printExpert)
}

// parsePercent reads a share such as "25%", "12.5 %" or "100" as basis points, exactly: a
// share finer than a hundredth of a percent is refused rather than rounded.
func parsePercent(s string) (int64, error) {
	num := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	whole, frac, _ := strings.Cut(num, ".")
	if !allDigits(whole) || (frac != "" && !allDigits(frac)) || len(frac) > 2 || len(whole) > 3 {
		return 0, errors.New("give a percentage from 0% to 100%, such as 25% or 12.5%")
	}
	n, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt((frac + "00")[:2], 10, 64)
	bps := n*100 + f
	if bps > 10_000 {
		return 0, errors.New("must be at most 100%")
	}
	return bps, nil
}

func cmdExpertShow(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "expert show HANDLE"
	pos, err := e.parseArgs(e.flagSet(name), synopsis, args, 1)
	if err != nil {
		return err
	}
	return publicRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Expert, error) {
		return c.Expert(ctx, pos[0])
	}, e.printExpert)
}

func cmdExperts(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "experts [--topic T] [--q WORDS] [--accepting] [--limit N] [--cursor C] [--all]"
	fs := e.flagSet(name)
	topic := fs.String("topic", "", "only experts of this `topic`, such as kubernetes")
	query := fs.String("q", "", "only experts with these `words` in the name, bio or topics")
	accepting := fs.Bool("accepting", false, "only experts taking questions now")
	pages := pagingFlags(fs, "experts")
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
	var page wire.ExpertPage
	raw, err := pages.walk(ctx, func(ctx context.Context, cursor string, size int) (string, error) {
		p, err := c.Experts(ctx, client.ExpertFilter{Topic: *topic, Query: *query, Accepting: *accepting, Cursor: cursor, Limit: size})
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
				page.Data = []wire.Expert{}
			}
			return e.printJSON(page)
		}
		return e.printRaw(raw)
	}
	if len(page.Data) == 0 {
		fmt.Fprintln(e.stdout, "no experts")
	} else {
		tw := e.table()
		fmt.Fprintln(tw, "HANDLE\tNAME\tPRICE\tWINDOW\tTAKING QUESTIONS\tANSWERED\tRATING\tCHARITY\tTOPICS")
		for _, x := range page.Data {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", x.Handle, oneLine(x.Name), amount(x.Price.Amount, x.Price.Asset),
				days(time.Duration(x.AnswerWindow)*time.Second), yesNo(x.Accepting), x.Answered, rating(x.Rating), charityShare(&x, false),
				strings.Join(x.Topics, " "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	pages.more(e, "experts", page.NextCursor)
	return nil
}

func cmdAsk(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "ask HANDLE QUESTION [--lightning [--wait=false] [--timeout D]] [--idempotency-key K]\n\n" +
		"Asks an expert a question at their price, which is held on your balance: it is paid when they\n" +
		"answer, and comes back if they decline or do not answer by the deadline.\n\n" +
		"With --lightning you pay a hold invoice instead, from any Lightning wallet, and are charged only if\n" +
		"the expert answers. The command prints the invoice and waits: it exits 0 when the payment is held\n" +
		"and the question opens, and 1 if the invoice expires unpaid or --timeout passes first."
	fs := e.flagSet(name)
	lightning := fs.Bool("lightning", false, "pay with a Lightning hold invoice instead of your balance: the payment is taken only if the expert answers")
	wait := fs.Bool("wait", true, "with --lightning, wait until the invoice is paid and the question opens; --wait=false prints the invoice and exits")
	timeout := fs.Duration("timeout", 0, "with --lightning, stop waiting after this `duration`, such as 10m, and exit 1 (default: until the invoice is paid or expires)")
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key asks once and holds the price once (default: a new random key)")
	pos, err := e.parseArgs(fs, synopsis, args, 2)
	if err != nil {
		return err
	}
	refuse := func(err error) error { return usageWithHelp(fs, synopsis, err) }
	if strings.TrimSpace(pos[1]) == "" {
		return refuse(errors.New("QUESTION is empty"))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	switch {
	case !*lightning && (given["wait"] || given["timeout"]):
		return refuse(errors.New("--wait and --timeout go with --lightning: a question paid from your balance opens at once"))
	case given["timeout"] && !*wait:
		return refuse(errors.New("--timeout goes with waiting: drop --wait=false, or --timeout"))
	case given["timeout"] && *timeout <= 0:
		return refuse(fmt.Errorf("--timeout %s: must be a positive duration, such as 10m", *timeout))
	}
	if *lightning {
		return askLightning(ctx, e, pos[0], pos[1], *idem, *wait, *timeout)
	}
	return moneyRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Question, error) {
		return c.AskExpert(ctx, pos[0], wire.AskRequest{Question: pos[1]}, *idem)
	}, func(q *wire.Question, resp *client.Response) error {
		if err := e.printQuestion(q, resp); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "\nThe price is held on your balance until %s (UTC). See the answer with: stipend question %s\n",
			q.Deadline.UTC().Format(time.DateTime), q.ID)
		return nil
	})
}

// questionList is "questions" and "inbox": one page, or every page, of questions.
func questionList(ctx context.Context, e *env, name string, args []string, inbox bool) error {
	synopsis := name + " [--status S] [--limit N] [--cursor C] [--all]"
	fs := e.flagSet(name)
	status := fs.String("status", "", "only questions in this `status`: awaiting_payment, open, answered, declined, expired or unpaid")
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
	get := c.Questions
	if inbox {
		get = c.Inbox
	}
	items, next, printed, err := collect(ctx, e, pages, func(ctx context.Context, cursor string, size int) ([]wire.Question, string, error) {
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
		fmt.Fprintln(e.stdout, "no questions")
	} else {
		tw := e.table()
		who := "EXPERT"
		if inbox {
			who = "ASKER"
		}
		fmt.Fprintf(tw, "CREATED (UTC)\tQUESTION\tSTATUS\tPRICE\tESCROW\tDEADLINE (UTC)\t%s\tTEXT\n", who)
		for _, q := range items {
			party := q.AskerID
			if !inbox {
				party = firstNonEmpty(q.ExpertHandle, q.ExpertID)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", q.CreatedAt.UTC().Format(time.DateTime), q.ID, q.Status,
				amount(q.Price.Amount, q.Price.Asset), escrowColumn(&q), q.Deadline.UTC().Format(time.DateTime), party, shorten(oneLine(q.Question)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	pages.more(e, name, next)
	return nil
}

func cmdQuestions(ctx context.Context, e *env, name string, args []string) error {
	return questionList(ctx, e, name, args, false)
}

func cmdInbox(ctx context.Context, e *env, name string, args []string) error {
	return questionList(ctx, e, name, args, true)
}

func cmdQuestion(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "question ID"
	pos, err := e.parseArgs(e.flagSet(name), synopsis, args, 1)
	if err != nil {
		return err
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Question, error) {
		return c.Question(ctx, pos[0])
	}, func(q *wire.Question) error { return e.printQuestion(q, nil) })
}

func cmdAnswer(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "answer ID (TEXT | --file FILE | -) [--idempotency-key K]\n\n" +
		"Answers a question asked of you before its deadline, which pays you its price, less the platform fee\n" +
		"and your charity's share. - or --file - reads the answer from stdin."
	fs := e.flagSet(name)
	fs.String("file", "", "read the answer from `FILE`, - for stdin")
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key pays once (default: a new random key)")
	pos, text, err := e.parseText(fs, synopsis, name, args, "answer")
	if err != nil {
		return err
	}
	return moneyRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Question, error) {
		return c.AnswerQuestion(ctx, pos[0], text, *idem)
	}, e.printQuestion)
}

// parseText parses the arguments of a command that takes an ID and a text ("answer",
// "reply"): the text is the second argument, "-" for stdin, or the file that the command's
// --file flag names, which fs must define. It is read from fs after parsing, since flags may
// come after the arguments. what names the text in errors.
func (e *env) parseText(fs *flag.FlagSet, synopsis, name string, args []string, what string) ([]string, string, error) {
	pos, err := e.parse(fs, synopsis, args)
	if err != nil {
		return nil, "", err
	}
	file := fs.Lookup("file").Value.String()
	refuse := func(err error) error { return usageWithHelp(fs, synopsis, err) }
	var text string
	switch {
	case file != "" && len(pos) == 2:
		return nil, "", refuse(fmt.Errorf("give the %s as TEXT or with --file, not both", what))
	case file != "":
		if err := wantArgs(fs, synopsis, pos, 1); err != nil {
			return nil, "", err
		}
		if text, err = e.readText(file); err != nil {
			return nil, "", &usageError{cmd: name, err: err}
		}
	default:
		if err := wantArgs(fs, synopsis, pos, 2); err != nil {
			return nil, "", err
		}
		text = pos[1]
		if text == "-" {
			if text, err = e.readText("-"); err != nil {
				return nil, "", &usageError{cmd: name, err: err}
			}
		}
	}
	if strings.TrimSpace(text) == "" {
		return nil, "", refuse(fmt.Errorf("the %s is empty", what))
	}
	return pos, text, nil
}

// readText reads an answer from a file, or stdin for "-".
func (e *env) readText(path string) (string, error) {
	var r io.Reader
	if path == "-" {
		if e.stdin == nil {
			return "", errors.New("no stdin to read the answer from")
		}
		r = e.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxAnswerFile+1))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", inputName(path), err)
	}
	if len(data) > maxAnswerFile {
		return "", fmt.Errorf("%s is larger than any answer the server accepts (20,000 characters)", inputName(path))
	}
	return string(data), nil
}

func cmdDecline(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "decline ID [--reason R] [--idempotency-key K]\n\n" +
		"Turns down a question asked of you; its price returns to the asker."
	fs := e.flagSet(name)
	reason := fs.String("reason", "", "why, which the asker sees")
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key declines once (default: a new random key)")
	pos, err := e.parseArgs(fs, synopsis, args, 1)
	if err != nil {
		return err
	}
	return moneyRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Question, error) {
		return c.DeclineQuestion(ctx, pos[0], *reason, *idem)
	}, e.printQuestion)
}

func cmdRate(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "rate ID RATING [--comment C]\n\nRates the answer to your question from 1 to 5, once."
	fs := e.flagSet(name)
	comment := fs.String("comment", "", "a `comment` on the answer")
	pos, err := e.parseArgs(fs, synopsis, args, 2)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(pos[1])
	if err != nil || n < 1 || n > 5 {
		return usageWithHelp(fs, synopsis, fmt.Errorf("RATING %q: must be a whole number from 1 to 5", clip(pos[1])))
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Question, error) {
		return c.RateAnswer(ctx, pos[0], n, *comment)
	}, func(q *wire.Question) error { return e.printQuestion(q, nil) })
}

func cmdCharities(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "charities"
	if _, err := e.parseArgs(e.flagSet(name), synopsis, args, 0); err != nil {
		return err
	}
	return publicRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.CharityList, error) {
		return c.Charities(ctx)
	}, func(list *wire.CharityList) error {
		if len(list.Data) == 0 {
			fmt.Fprintln(e.stdout, "no charities")
			return nil
		}
		tw := e.table()
		fmt.Fprintln(tw, "HANDLE\tNAME\tRECEIVED\tWEBSITE")
		for _, ch := range list.Data {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ch.Handle, oneLine(ch.Name), moneyList(ch.Received), firstNonEmpty(ch.Website, "-"))
		}
		return tw.Flush()
	})
}

func cmdCharityShow(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "charity show HANDLE\n\nShows a charity, what it has received and its latest donation receipts."
	pos, err := e.parseArgs(e.flagSet(name), synopsis, args, 1)
	if err != nil {
		return err
	}
	return publicRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.DonationPage, error) {
		return c.Donations(ctx, pos[0], "", 0)
	}, func(page *wire.DonationPage) error {
		if err := e.printCharity(&page.Charity); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout)
		if len(page.Data) == 0 {
			fmt.Fprintln(e.stdout, "no donations yet")
			return nil
		}
		tw := e.table()
		fmt.Fprintln(tw, "TIME (UTC)\tRECEIPT\tAMOUNT\tDONOR\tQUESTION\tTRANSACTION")
		for _, d := range page.Data {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.CreatedAt.UTC().Format(time.DateTime), d.ID, amount(d.Amount.Amount, d.Amount.Asset),
				d.DonorID, d.QuestionID, d.Transaction)
		}
		return tw.Flush()
	})
}

func cmdAdminCharityCreate(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "admin charity create --handle H --name N --receipt R --lightning ADDRESS [--website URL]"
	fs := e.flagSet(name)
	handle := fs.String("handle", "", "a short unique `handle`, such as eff (required)")
	display := fs.String("name", "", "the charity's `name` (required)")
	receipt := fs.String("receipt", "", "what its donation receipts name: legal `name`, registration number and address (required)")
	lightning := fs.String("lightning", "", "the Lightning `ADDRESS` that takes the charity's donations (required)")
	website := fs.String("website", "", "the charity's https `URL`")
	if _, err := e.parseArgs(fs, synopsis, args, 0); err != nil {
		return err
	}
	var missing []string
	for _, f := range []struct{ flag, value string }{{"--handle", *handle}, {"--name", *display}, {"--receipt", *receipt}, {"--lightning", *lightning}} {
		if f.value == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return usageWithHelp(fs, synopsis, fmt.Errorf("%s required", strings.Join(missing, ", ")))
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Charity, error) {
		return c.CreateCharity(ctx, wire.CreateCharityRequest{Handle: *handle, Name: *display, Website: *website, Receipt: *receipt,
			Destinations: map[string]string{"lightning": *lightning}})
	}, e.printCharity)
}

func (e *env) printExpert(x *wire.Expert) error {
	pairs := []string{
		"expert", x.Handle,
		"name", x.Name,
		"account", x.AccountID,
		"price", amount(x.Price.Amount, x.Price.Asset) + " per answer",
		"answer window", days(time.Duration(x.AnswerWindow) * time.Second),
		"taking questions", yesNo(x.Accepting),
	}
	if len(x.Topics) > 0 {
		pairs = append(pairs, "topics", strings.Join(x.Topics, " "))
	}
	pairs = append(pairs, "charity", charityShare(x, true), "answered", strconv.Itoa(x.Answered), "rating", rating(x.Rating))
	if x.Bio != "" {
		pairs = append(pairs, "bio", x.Bio)
	}
	pairs = append(pairs, "updated (UTC)", x.UpdatedAt.UTC().Format(time.DateTime))
	return e.printPairs(pairs...)
}

// charityShare describes where part of an expert's earnings goes; long adds what the share is
// taken from.
func charityShare(x *wire.Expert, long bool) string {
	if x.Charity == nil {
		if long {
			return "none"
		}
		return "-"
	}
	s := firstNonEmpty(x.Charity.Handle, x.Charity.ID) + " " + percent(x.CharityShareBPS)
	if long {
		s = fmt.Sprintf("%s (%s), %s of the earnings after the platform fee", firstNonEmpty(x.Charity.Handle, x.Charity.ID),
			x.Charity.Name, percent(x.CharityShareBPS))
	}
	return s
}

// rating writes an expert's average rating: 4.5 of 5 from its tenths.
func rating(r wire.Rating) string {
	if r.Count == 0 {
		return "none yet"
	}
	return fmt.Sprintf("%d.%d of 5 (%d)", r.AverageTenths/10, r.AverageTenths%10, r.Count)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// printQuestion shows a question with its terms; resp, when the question comes from a
// money-moving request, adds the idempotency key it was sent with.
func (e *env) printQuestion(q *wire.Question, resp *client.Response) error {
	a := q.Price.Asset
	expert := q.ExpertID
	if q.ExpertHandle != "" {
		expert = q.ExpertHandle + " (" + q.ExpertID + ")"
	}
	pairs := []string{
		"question", q.ID,
		"status", q.Status,
		"expert", expert,
		"asker", q.AskerID,
		"price", amount(q.Price.Amount, a) + ", " + escrowOf(q),
	}
	if inv := q.Invoice; inv != nil {
		// The invoice is on a line of its own, to be copied into a wallet; the server shows it
		// only while it may be paid.
		if inv.PaymentRequest != "" {
			pairs = append(pairs, "invoice", inv.PaymentRequest)
		}
		if q.Status == questionAwaitingPayment {
			pairs = append(pairs, "invoice expires (UTC)", inv.ExpiresAt.UTC().Format(time.DateTime))
		}
		pairs = append(pairs, "payment hash", inv.PaymentHash)
	}
	pairs = append(pairs, "platform fee", percent(q.FeeBPS)+" of the price")
	if q.CharityID != "" {
		pairs = append(pairs, "charity share", fmt.Sprintf("%s of the rest to %s", percent(q.CharityShareBPS), q.CharityID))
	}
	deadline := q.Deadline.UTC().Format(time.DateTime)
	if q.Status == questionAwaitingPayment {
		// Until it is paid, the question's deadline is the latest it could be: one answer window
		// after the invoice expires.
		deadline += ", at the latest: one answer window after the payment"
	}
	pairs = append(pairs, "deadline (UTC)", deadline, "text", q.Question)
	if q.Answer != "" {
		pairs = append(pairs, "answer", q.Answer)
	}
	if q.DeclineReason != "" {
		pairs = append(pairs, "declined because", q.DeclineReason)
	}
	if p := q.Parts; p != nil {
		pairs = append(pairs, "paid", fmt.Sprintf("expert %s, charity %s, platform fee %s", amount(p.Earnings.Amount, a),
			amount(p.Charity.Amount, a), amount(p.Fee.Amount, a)))
	}
	if q.Rating != 0 {
		r := fmt.Sprintf("%d of 5", q.Rating)
		if q.RatingComment != "" {
			r += ": " + q.RatingComment
		}
		pairs = append(pairs, "rating", r)
	}
	if q.Transaction != "" {
		pairs = append(pairs, "transaction", q.Transaction)
	}
	pairs = append(pairs, "created (UTC)", q.CreatedAt.UTC().Format(time.DateTime))
	if q.ClosedAt != nil {
		pairs = append(pairs, "closed (UTC)", when(q.ClosedAt))
	}
	if resp != nil && resp.IdempotencyKey != "" {
		pairs = append(pairs, "idempotency key", resp.IdempotencyKey)
		if resp.Replayed {
			pairs = append(pairs, "replayed", "yes: this key was used before, so nothing moved again")
		}
	}
	return e.printPairs(pairs...)
}

func (e *env) printCharity(ch *wire.Charity) error {
	pairs := []string{"charity", ch.Handle, "name", ch.Name, "id", ch.ID}
	if ch.Website != "" {
		pairs = append(pairs, "website", ch.Website)
	}
	pairs = append(pairs, "receipt", ch.Receipt)
	for _, rail := range []string{"lightning", "onchain", "stripe"} {
		if d := ch.Destinations[rail]; d != "" {
			pairs = append(pairs, rail, d)
		}
	}
	pairs = append(pairs, "received", moneyList(ch.Received), "created (UTC)", ch.CreatedAt.UTC().Format(time.DateTime))
	return e.printPairs(pairs...)
}

// moneyList writes amounts of several assets: "2,100 sat, 5.00 USD", or "nothing".
func moneyList(ms []wire.Money) string {
	if len(ms) == 0 {
		return "nothing yet"
	}
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, amount(m.Amount, m.Asset))
	}
	return strings.Join(out, ", ")
}
