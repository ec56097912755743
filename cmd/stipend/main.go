// Command stipend is the command-line client of a Stipend server.
//
//	stipend whoami
//	stipend balance [--account ID]
//	stipend ledger [--account ID] [--limit N] [--cursor C] [--all]
//	stipend keys list [--account ID]
//	stipend keys create --name N [--scope S ...] [--account ID]
//	stipend keys revoke ID
//	stipend transfer TO AMOUNT [--memo M] [--from ID] [--idempotency-key K]
//	stipend fund AMOUNT [--account ID] [--memo M] [--wait] [--idempotency-key K]
//	stipend payout DESTINATION [AMOUNT] [--max-fee AMOUNT] [--account ID] [--wait] [--idempotency-key K]
//	stipend payouts [--account ID] [--limit N] [--cursor C] [--all]
//	stipend payouts show ID
//	stipend payouts cancel ID [--idempotency-key K]
//	stipend preferences [--account ID]
//	stipend preferences set ASSET --rail lightning|keep [--to ADDRESS] [--minimum AMOUNT] [--account ID]
//	stipend bounty create --kind K --title T --reward AMOUNT --units N --deadline TIME|DURATION [--approval ci|review]
//	        [--reviewer H ...] [--link URL] [--description D] [--claim-window DURATION] [--sponsor ID] [--idempotency-key K]
//	stipend bounty list [--status S] [--kind K] [--q WORDS] [--sponsor ID] [--limit N] [--cursor C] [--all]
//	stipend bounty show ID
//	stipend bounty topup ID UNITS [--idempotency-key K]
//	stipend bounty cancel ID [--idempotency-key K]
//	stipend bounty claim ID
//	stipend bounty release ID CLAIM
//	stipend bounty submit ID --evidence URL [--claim CLAIM]
//	stipend bounty submissions ID
//	stipend bounty approve ID SUBMISSION [--idempotency-key K]
//	stipend bounty reject ID SUBMISSION --reason R
//	stipend ci report --bounty ID (--junit FILE | --go-test-json FILE | --json FILE) [--run-id R] [--contributor LOGIN] [--verbose] [--idempotency-key K]
//	stipend github link
//	stipend github confirm CODE [--idempotency-key K]
//	stipend expert set --name N --price AMOUNT --window DURATION [--bio B] [--topic T ...]
//	        [--charity HANDLE --charity-share PERCENT] [--accepting=false]
//	stipend expert show HANDLE
//	stipend experts [--topic T] [--q WORDS] [--accepting] [--limit N] [--cursor C] [--all]
//	stipend ask HANDLE QUESTION [--lightning [--wait=false] [--timeout D]] [--idempotency-key K]
//	stipend questions [--status S] [--limit N] [--cursor C] [--all]
//	stipend question ID
//	stipend inbox [--status S] [--limit N] [--cursor C] [--all]
//	stipend answer ID (TEXT | --file FILE | -) [--idempotency-key K]
//	stipend decline ID [--reason R] [--idempotency-key K]
//	stipend rate ID RATING [--comment C]
//	stipend charities
//	stipend charity show HANDLE
//	stipend lists
//	stipend list show HANDLE
//	stipend ask-list HANDLE QUESTION --responses N [--idempotency-key K]
//	stipend list-questions [--status S] [--limit N] [--cursor C] [--all]
//	stipend list-question ID
//	stipend list-inbox [--status S] [--limit N] [--cursor C] [--all]
//	stipend reply ID (TEXT | --file FILE | -) [--idempotency-key K]
//	stipend admin account create --kind user|org --handle H --name N [--email E] [--owner ID ...]
//	stipend admin credit ACCOUNT AMOUNT [--memo M] [--idempotency-key K]
//	stipend admin github link ACCOUNT LOGIN [--idempotency-key K]
//	stipend admin charity create --handle H --name N --receipt R --lightning ADDRESS [--website URL]
//	stipend admin list create --handle H --name N --price AMOUNT --window DURATION --member H ... [--description D]
//
// Every command takes the global flags --server (or STIPEND_SERVER, default
// http://127.0.0.1:8402), --api-key (or STIPEND_API_KEY) and --json, before or after the
// command's name. A flag wins over its environment variable. AMOUNT is text such as
// "2100 sat", "0.001 BTC" or "5.00 USD".
//
// Lightning: "fund" prints a BOLT11 invoice that credits the account when it is paid, and
// with --wait follows it until it is paid (printing what was credited) or expires. "payout"
// withdraws to a BOLT11 invoice, a Lightning Address or an LNURL; an address or LNURL needs
// an AMOUNT, an invoice that names its own amount does not. The payout is sent in the
// background; with --wait the command follows it to its end and prints the proof of payment
// (the preimage), or the reason it failed. "payouts" lists, shows and cancels payouts, and
// "preferences" says how each asset is paid out: kept as a balance, or swept to a Lightning
// Address whenever the available balance reaches a minimum.
//
// Bounties: "bounty create" funds a task with a reward per unit; the platform fee is charged
// on top, and the command prints the fee per unit and the total cost. --deadline is a time
// in RFC 3339 or a duration from now such as 72h or 7d. A test_run bounty is paid by CI
// results unless --approval says otherwise; the other kinds by review. "bounty list" and
// "bounty show" (the bounty and its public account: funded, fees, paid, refunded, in escrow
// and pending) need no API key, and send none. For a review bounty, people "claim" a unit
// when the bounty has a claim window, "submit" their work with evidence, and the sponsor or a
// reviewer will "approve" it, which pays, or "reject" it with a reason.
//
// CI: "ci report" uploads one file of test results (JUnit XML, go test -json output, or
// Stipend's JSON; - reads stdin) with a CI token, a key with the scope ci:report:<bounty id>
// made by the sponsor ("stipend keys create --name ci --scope ci:report:<bounty id>"), given
// as usual with --api-key or, in CI, STIPEND_API_KEY. --json FILE names a file in Stipend's
// JSON format; a --json with no file after it prints the server's report as JSON. --run-id
// defaults to $GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT when GitHub Actions sets them, and
// --contributor names the GitHub login paid for results that name none. A large upload
// shows its progress on stderr. The summary counts the results paid, duplicate, failing,
// over budget and rejected, the amount paid and the units left; --verbose lists the results
// not paid with the reason. An accepted upload exits 0 even when some results were not paid.
//
// GitHub: rewards for a contributor named by GitHub login wait until the login is linked to
// an account. "github link" prints the GitHub page where the account holder signs in; the
// page GitHub then sends them to shows a code, which "github confirm CODE", run with the same
// API key, turns into the link, moving the waiting rewards in.
//
// Experts: "expert set" makes you an expert: the price of an answer, the window you answer in
// (--window 72h or 3d), your topics, and optionally a charity from "stipend charities" that
// gets --charity-share (such as 25%) of what you earn after the platform fee. "ask" pays an
// expert's price into escrow, a hold on your balance, and prints the question's id, price and
// deadline; the expert sees it in "inbox" and will "answer" it (the text, --file FILE, or - for
// stdin), which pays them, or "decline" it, which returns the price to you, as the deadline does
// when no answer comes. "ask --lightning" escrows the price with a Lightning hold invoice
// instead: it prints the invoice and waits until it is paid and the question opens (exit 0), or
// it expires unpaid or --timeout passes (exit 1); --wait=false prints the invoice and exits.
// The payment is taken only if the expert answers. "questions" and "question ID" follow what
// you asked, with the escrow and, for a hold invoice, its state; "rate ID 1-5" rates an answer
// once. "experts", "expert show", "charities" and "charity show" (a charity, what it
// received and its donation receipts) are public and send no API key.
//
// Expert lists: an operator groups experts into a list ("admin list create"), such as
// kubernetes, with a price per response. "ask-list HANDLE QUESTION --responses N" asks every
// member at once and holds the price × N on your balance; each member may "reply" once (the
// text, --file FILE, or - for stdin), and each reply is paid from the hold, split as an answer
// is, until N replies were paid. What is left at the deadline returns to you. "list-questions"
// and "list-question ID" follow what you asked, with the replies; members see the questions in
// "list-inbox". "lists" and "list show" are public and send no API key.
//
// The exit status is 0 on success, 1 when the request failed (an API error, a network error,
// an invoice that expired unpaid, a payout that failed or was cancelled while --wait followed
// it, a question whose hold invoice was not paid in time) and 2 when the command was refused before any request was made (bad usage, a malformed
// amount, no API key, a results file that cannot be read).
//
// When a transfer, credit, funding, payout, cancellation, bounty creation, top-up or
// cancellation, results upload, approval, GitHub link, question, answer, decline, list
// question or reply gets no final answer (a network
// error, a 5xx, or the server's 409 saying that a request with the same key is still in
// progress), nobody can tell whether money moved. The error is then followed by the
// idempotency key it was sent with and the advice to run the same command again with
// --idempotency-key, which pays at most once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stipend/stipend/client"
)

// DefaultServer is the server used when neither --server nor STIPEND_SERVER names one.
const DefaultServer = "http://127.0.0.1:8402"

// requestTimeout bounds one HTTP request. The server may hold a money-moving request for up
// to 30 s while an earlier one with the same key finishes, so this is longer.
const requestTimeout = time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

const usage = `usage: stipend [--server URL] [--api-key KEY] [--json] <command> [arguments]

commands:
  whoami                       the account and API key in use
  balance                      balances per asset
  ledger                       ledger transactions, newest first
  keys list|create|revoke      manage API keys
  transfer TO AMOUNT           pay another account, by id or handle
  fund AMOUNT                  a Lightning invoice that credits your account when paid
  payout DESTINATION [AMOUNT]  withdraw to a Lightning invoice, Lightning Address or LNURL
  payouts [show|cancel]        list payouts, show one, cancel one not yet sent
  pay URL --max-price AMOUNT   call a priced URL, paying its 402 (L402, Payment, credits) up to a price
  preferences [set]            how each asset is paid out: kept, or swept to Lightning
  bounty create                fund a task: a reward per unit, the platform fee on top
  bounty list|show             find bounties and read their accounts (no API key needed)
  bounty topup|cancel          buy more units of your bounty, or end it and get the rest back
  bounty claim|release|submit  reserve a unit of a review bounty, hand in the work
  bounty submissions           the work handed in for a bounty
  bounty approve|reject        pay for work handed in, or refuse it with a reason
  ci report --bounty ID        upload CI test results (JUnit, go test -json, JSON) with a CI token
  github link|confirm          prove a GitHub login is yours, receiving the rewards it earned
  expert set|show              set your price, answer window and charity share; show an expert
  experts                      find experts by topic or words (no API key needed)
  ask HANDLE QUESTION          ask an expert; the price is held until they answer (--lightning: by hold invoice)
  questions, question ID       the questions you asked, and one of them with its answer
  inbox                        the questions asked of you as an expert
  answer|decline ID            answer a question (you are paid) or turn it down (it is refunded)
  rate ID RATING               rate an answer from 1 to 5
  charities, charity show      the charities experts give to, and their receipts (no API key needed)
  lists, list show             lists of experts one question goes to (no API key needed)
  ask-list HANDLE QUESTION     ask a list, buying --responses N replies; the price × N is held
  list-questions               the list questions you asked
  list-question ID             one list question, with its replies
  list-inbox                   the questions asked of the lists you are in
  reply ID TEXT                reply to a list question once (paid while responses are left)
  admin account create         create a user or an organisation (admin)
  admin credit ACCOUNT AMOUNT  credit an account from outside Stipend (admin)
  admin github link            link a GitHub login to an account, moving its pending rewards (admin)
  admin charity create         register a charity experts may give to (admin)
  admin list create            make a list of experts with a price per response (admin)

global flags (before or after the command):
  --server URL    the Stipend server (env STIPEND_SERVER, default ` + DefaultServer + `)
  --api-key KEY   the API key (env STIPEND_API_KEY)
  --json          print the JSON the server returned instead of a table

AMOUNT is a number and a unit: "2100 sat", "1500 msat", "0.001 BTC", "5.00 USD", "1.50 EUR".
Run "stipend <command> -h" for the flags of a command.
`

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	err := dispatch(ctx, e, "", commands(), args)
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return e.report(err)
}

// env is what a command runs with: the global settings and where output goes.
type env struct {
	stdin          io.Reader // read by "ci report -" only
	stdout, stderr io.Writer
	getenv         func(string) string

	server, apiKey string // from the flags; "" when not given
	json           bool
}

// node is a command, or a group of subcommands, or both: a command whose first word may
// name a subcommand instead ("payouts" lists, "payouts show ID" shows one).
type node struct {
	summary string
	run     func(ctx context.Context, e *env, name string, args []string) error
	sub     map[string]*node
	order   []string // the subcommands in the order the help lists them
}

func commands() *node {
	return &node{sub: map[string]*node{
		"whoami":   {run: cmdWhoami},
		"balance":  {run: cmdBalance},
		"ledger":   {run: cmdLedger},
		"transfer": {run: cmdTransfer},
		"fund":     {run: cmdFund},
		"payout":   {run: cmdPayout},
		"pay":      {run: cmdPay},
		"payouts": {run: cmdPayouts, order: []string{"show", "cancel"}, sub: map[string]*node{
			"show":   {run: cmdPayoutsShow},
			"cancel": {run: cmdPayoutsCancel},
		}},
		"preferences": {run: cmdPreferences, order: []string{"set"}, sub: map[string]*node{
			"set": {run: cmdPreferencesSet},
		}},
		"keys": {order: []string{"list", "create", "revoke"}, sub: map[string]*node{
			"list":   {run: cmdKeysList},
			"create": {run: cmdKeysCreate},
			"revoke": {run: cmdKeysRevoke},
		}},
		"bounty": {order: []string{"create", "list", "show", "topup", "cancel", "claim", "release", "submit", "submissions", "approve", "reject"},
			sub: map[string]*node{
				"create":      {run: cmdBountyCreate},
				"list":        {run: cmdBountyList},
				"show":        {run: cmdBountyShow},
				"topup":       {run: cmdBountyTopUp},
				"cancel":      {run: cmdBountyCancel},
				"claim":       {run: cmdBountyClaim},
				"release":     {run: cmdBountyRelease},
				"submit":      {run: cmdBountySubmit},
				"submissions": {run: cmdBountySubmissions},
				"approve":     {run: cmdBountyApprove},
				"reject":      {run: cmdBountyReject},
			}},
		"ci": {order: []string{"report"}, sub: map[string]*node{
			"report": {run: cmdCIReport},
		}},
		"github": {order: []string{"link", "confirm"}, sub: map[string]*node{
			"link":    {run: cmdGitHubLink},
			"confirm": {run: cmdGitHubConfirm},
		}},
		"expert": {order: []string{"set", "show"}, sub: map[string]*node{
			"set":  {run: cmdExpertSet},
			"show": {run: cmdExpertShow},
		}},
		"experts":   {run: cmdExperts},
		"ask":       {run: cmdAsk},
		"questions": {run: cmdQuestions},
		"question":  {run: cmdQuestion},
		"inbox":     {run: cmdInbox},
		"answer":    {run: cmdAnswer},
		"decline":   {run: cmdDecline},
		"rate":      {run: cmdRate},
		"charities": {run: cmdCharities},
		"charity": {order: []string{"show"}, sub: map[string]*node{
			"show": {run: cmdCharityShow},
		}},
		"lists": {run: cmdLists},
		"list": {order: []string{"show"}, sub: map[string]*node{
			"show": {run: cmdListShow},
		}},
		"ask-list":       {run: cmdAskList},
		"list-questions": {run: cmdListQuestions},
		"list-question":  {run: cmdListQuestion},
		"list-inbox":     {run: cmdListInbox},
		"reply":          {run: cmdReply},
		"admin": {order: []string{"account", "credit", "github", "charity", "list"}, sub: map[string]*node{
			"account": {order: []string{"create"}, sub: map[string]*node{
				"create": {run: cmdAdminAccountCreate},
			}},
			"credit": {run: cmdAdminCredit},
			"github": {order: []string{"link"}, sub: map[string]*node{
				"link": {run: cmdAdminGitHubLink},
			}},
			"charity": {order: []string{"create"}, sub: map[string]*node{
				"create": {run: cmdAdminCharityCreate},
			}},
			"list": {order: []string{"create"}, sub: map[string]*node{
				"create": {run: cmdAdminListCreate},
			}},
		}},
	}}
}

// dispatch finds the command that args name below n and runs it. Global flags may come
// before the command's name, or between the words of a group ("keys --json list").
func dispatch(ctx context.Context, e *env, name string, n *node, args []string) error {
	if n.run != nil {
		if word, rest, ok := e.subcommandOf(name, n, args); ok {
			if word == "help" {
				return n.run(ctx, e, name, []string{"-h"})
			}
			return dispatch(ctx, e, name+" "+word, n.sub[word], rest)
		}
		return n.run(ctx, e, name, args)
	}
	fs := e.flagSet(name)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			e.printGroupUsage(name, n)
		}
		return usageErr(name, err)
	}
	rest := fs.Args()
	if len(rest) == 0 || rest[0] == "help" {
		if name == "" && len(rest) == 0 {
			fmt.Fprint(e.stderr, usage)
			return &usageError{}
		}
		if len(rest) > 0 {
			e.printGroupUsage(name, n)
			return flag.ErrHelp
		}
		return usageErr(name, fmt.Errorf("name a subcommand: %s", strings.Join(n.order, ", ")))
	}
	sub, ok := n.sub[rest[0]]
	if !ok {
		what := "subcommand"
		if name == "" {
			what = "command"
		}
		return usageErr(name, fmt.Errorf("unknown %s %q", what, clip(rest[0])))
	}
	return dispatch(ctx, e, strings.TrimSpace(name+" "+rest[0]), sub, rest[1:])
}

// subcommandOf finds the subcommand that args name below a node that is also a command: the
// first word after any global flags ("payouts --json show ID"), or "help". Anything else,
// the command's own flags included, is left to the command itself.
func (e *env) subcommandOf(name string, n *node, args []string) (string, []string, bool) {
	if len(n.sub) == 0 {
		return "", nil, false
	}
	fs := e.flagSet(name)
	if err := fs.Parse(args); err != nil {
		return "", nil, false
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return "", nil, false
	}
	if _, ok := n.sub[rest[0]]; !ok && rest[0] != "help" {
		return "", nil, false
	}
	return rest[0], rest[1:], true
}

func (e *env) printGroupUsage(name string, n *node) {
	if name == "" {
		fmt.Fprint(e.stdout, usage)
		return
	}
	fmt.Fprintf(e.stdout, "usage: stipend %s <%s> [flags]\n", name, strings.Join(n.order, "|"))
}

// flagSet returns an empty flag set for a command, holding the global flags. Flag errors are
// reported by the caller, not printed by the flag package. The global flags show no default:
// the API key must never be printed, not even in the help.
func (e *env) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("stipend "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.Func("server", "the Stipend server `URL` (env STIPEND_SERVER, default "+DefaultServer+")", func(s string) error {
		e.server = s
		return nil
	})
	fs.Func("api-key", "the API `key` (env STIPEND_API_KEY)", func(s string) error {
		e.apiKey = s
		return nil
	})
	fs.BoolFunc("json", "print the JSON the server returned", func(s string) error {
		b, err := strconv.ParseBool(s)
		e.json = b
		return err
	})
	return fs
}

// parse parses a command's flags and returns its positional arguments. Unlike fs.Parse it
// accepts flags after positional arguments too ("transfer bob '1 sat' --memo hi"); after
// "--" everything is positional. With -h it prints the command's help to stdout.
func (e *env) parse(fs *flag.FlagSet, synopsis string, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(e.stdout, commandUsage(fs, synopsis))
				return nil, err
			}
			return nil, usageWithHelp(fs, synopsis, err)
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseArgs is parse followed by wantArgs: a command's flags, then exactly n positional
// arguments.
func (e *env) parseArgs(fs *flag.FlagSet, synopsis string, args []string, n int) ([]string, error) {
	pos, err := e.parse(fs, synopsis, args)
	if err != nil {
		return nil, err
	}
	if err := wantArgs(fs, synopsis, pos, n); err != nil {
		return nil, err
	}
	return pos, nil
}

// commandUsage is the help of one command: its synopsis and its flags.
func commandUsage(fs *flag.FlagSet, synopsis string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: stipend %s\n\nflags:\n", synopsis)
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
}

// wantArgs returns a usage error unless there are exactly n positional arguments. The
// arguments themselves are not repeated, in case one is a secret typed in the wrong place.
func wantArgs(fs *flag.FlagSet, synopsis string, pos []string, n int) error {
	if len(pos) == n {
		return nil
	}
	var err error
	switch {
	case n == 0:
		err = fmt.Errorf("takes no arguments, got %d", len(pos))
	case len(pos) < n:
		err = fmt.Errorf("needs %d argument(s), got %d", n, len(pos))
	default:
		err = fmt.Errorf("takes %d argument(s), got %d (quote an amount with a space: \"2100 sat\")", n, len(pos))
	}
	return usageWithHelp(fs, synopsis, err)
}

func cmdName(fs *flag.FlagSet) string { return strings.TrimPrefix(fs.Name(), "stipend ") }

// usageWithHelp refuses a command's arguments or flags: it exits 2 and prints err followed by
// the command's help.
func usageWithHelp(fs *flag.FlagSet, synopsis string, err error) error {
	return &usageError{cmd: cmdName(fs), err: err, help: commandUsage(fs, synopsis)}
}

// client returns an API client for the global settings: a flag wins over its environment
// variable, which wins over the default. Without an API key nothing is sent.
func (e *env) client() (*client.Client, error) {
	key := firstNonEmpty(e.apiKey, e.getenv("STIPEND_API_KEY"))
	c, err := e.newClient(key)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, &usageError{err: errors.New("no API key: pass --api-key or set STIPEND_API_KEY")}
	}
	return c, nil
}

// publicClient returns a client for the public reads (bounties and their statements), which
// sends no API key: none is needed, so none is shown to the server.
func (e *env) publicClient() (*client.Client, error) { return e.newClient("") }

func (e *env) newClient(key string) (*client.Client, error) {
	server := firstNonEmpty(e.server, e.getenv("STIPEND_SERVER"), DefaultServer)
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &usageError{err: fmt.Errorf("--server %q: must be an http:// or https:// URL, like %s", clip(server), DefaultServer)}
	}
	return client.New(server, key,
		client.WithUserAgent("stipend-cli/"+version()),
		client.WithHTTPClient(&http.Client{Timeout: requestTimeout}),
	), nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// usageError is a command refused before any request was made. It exits with status 2.
type usageError struct {
	cmd  string
	err  error
	help string
}

func (u *usageError) Error() string {
	if u.err == nil {
		return "usage"
	}
	return u.err.Error()
}

func usageErr(cmd string, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &usageError{cmd: cmd, err: err}
}

// report prints err for a person and returns the exit status. An API error reads
// "stipend: <detail> (<code>, request <id>)". A money-moving request whose outcome is unknown
// is reported the same way, followed by a line with the idempotency key to retry with.
func (e *env) report(err error) int {
	var uo *unknownOutcomeError
	if errors.As(err, &uo) {
		code := e.report(uo.err)
		e.errorf("%s\n", uo.advice())
		return code
	}
	var he *hintedError
	if errors.As(err, &he) {
		code := e.report(he.err)
		e.errorf("%s\n", he.hint)
		return code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.err != nil {
			prefix := "stipend: "
			if ue.cmd != "" {
				prefix = "stipend " + ue.cmd + ": "
			}
			e.errorf("%s%v\n", prefix, ue.err)
			if ue.help != "" {
				e.errorf("\n%s", ue.help)
			} else {
				e.errorf("Run \"stipend help\" for usage.\n")
			}
		}
		return 2
	}
	var ae *client.Error
	if errors.As(err, &ae) {
		p := ae.Problem
		code := p.Code
		if code == "" {
			code = "HTTP " + strconv.Itoa(ae.StatusCode)
		}
		if p.RequestID != "" {
			e.errorf("stipend: %s (%s, request %s)\n", p.Detail, code, p.RequestID)
		} else {
			e.errorf("stipend: %s (%s)\n", p.Detail, code)
		}
		return 1
	}
	e.errorf("stipend: %s\n", strings.TrimPrefix(err.Error(), "stipend API: "))
	return 1
}

// errorf writes to stderr, blanking out the API key should it appear in a message (a
// proxy's error page echoing the request, say): the key is never printed.
func (e *env) errorf(format string, args ...any) {
	io.WriteString(e.stderr, e.redact(fmt.Sprintf(format, args...)))
}

func (e *env) redact(s string) string {
	for _, k := range []string{e.apiKey, e.getenv("STIPEND_API_KEY")} {
		if len(k) >= 8 {
			s = strings.ReplaceAll(s, k, "[API key]")
		}
	}
	return s
}

// clip shortens text from the command line for an error message.
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}
