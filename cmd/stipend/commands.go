package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/payments/ledger"
)

// maxPageSize is the largest page the server gives; --all uses it unless --limit says less.
const maxPageSize = 500

// paging is the --limit, --cursor and --all of a command that lists pages.
type paging struct {
	limit  int
	cursor string
	all    bool
}

// pagingFlags adds --limit, --cursor and --all to fs; what names the things a page lists.
func pagingFlags(fs *flag.FlagSet, what string) *paging {
	p := &paging{}
	fs.IntVar(&p.limit, "limit", 0, what+" per page, 1 to 500 (default: the server's, 50)")
	fs.StringVar(&p.cursor, "cursor", "", "start at this `cursor`, printed after a page that has more")
	fs.BoolVar(&p.all, "all", false, "follow the cursor through every page")
	return p
}

// check refuses a --limit that the server would refuse, before any request.
func (p *paging) check(fs *flag.FlagSet, synopsis string) error {
	if p.limit < 0 || p.limit > maxPageSize {
		return usageWithHelp(fs, synopsis, fmt.Errorf("--limit %d: must be 1 to %d", p.limit, maxPageSize))
	}
	return nil
}

// walk calls get for the page at --cursor and, with --all, for each page after it, as large as
// the server allows unless --limit says less. get returns the cursor of the page after its
// own, "" after the last. walk returns the body of the last response as the server sent it.
func (p *paging) walk(ctx context.Context, get func(ctx context.Context, cursor string, size int) (next string, err error)) ([]byte, error) {
	size := p.limit
	if p.all && size == 0 {
		size = maxPageSize
	}
	cursor := p.cursor
	for {
		var resp client.Response
		next, err := get(client.WithResponse(ctx, &resp), cursor, size)
		if err != nil {
			return nil, err
		}
		if !p.all || next == "" {
			return resp.Body, nil
		}
		cursor = next
	}
}

// collect walks the pages get returns (see walk) and gathers their items and the cursor after
// the last page read. With --json it prints them, as the server sent the page, or with --all
// every page's items in the shape of one page, and reports that it printed; otherwise the
// caller shows them.
func collect[T any](ctx context.Context, e *env, p *paging, get func(ctx context.Context, cursor string, size int) ([]T, string, error)) (items []T, next string, printed bool, err error) {
	raw, err := p.walk(ctx, func(ctx context.Context, cursor string, size int) (string, error) {
		data, n, err := get(ctx, cursor, size)
		if err != nil {
			return "", err
		}
		items, next = append(items, data...), n
		return n, nil
	})
	if err != nil || !e.json {
		return items, next, false, err
	}
	if !p.all {
		return items, next, true, e.printRaw(raw)
	}
	if items == nil {
		items = []T{}
	}
	return items, next, true, e.printJSON(struct {
		Data []T `json:"data"`
	}{items})
}

// more tells on stderr how to list the next page, when there is one that --all did not follow.
func (p *paging) more(e *env, cmd, next string) {
	if next != "" && !p.all {
		fmt.Fprintf(e.stderr, "\nmore: stipend %s --cursor %s (or --all)\n", cmd, next)
	}
}

func cmdWhoami(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "whoami"
	if _, err := e.parseArgs(e.flagSet(name), synopsis, args, 0); err != nil {
		return err
	}
	var server string
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Me, error) {
		server = c.BaseURL()
		return c.Me(ctx)
	}, func(me *wire.Me) error {
		return e.printPairs(
			"server", server,
			"account", me.Account.ID,
			"handle", me.Account.Handle,
			"name", me.Account.Name,
			"kind", me.Account.Kind,
			"key", fmt.Sprintf("%s (%s)", me.Key.ID, me.Key.Name),
			"scopes", strings.Join(me.Key.Scopes, " "),
		)
	})
}

func cmdBalance(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "balance [--account ID]"
	fs := e.flagSet(name)
	account := fs.String("account", "", "an account `ID` you may read (default: your own)")
	if _, err := e.parseArgs(fs, synopsis, args, 0); err != nil {
		return err
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Balances, error) {
		return c.Balances(ctx, *account)
	}, func(b *wire.Balances) error {
		if len(b.Data) == 0 {
			fmt.Fprintf(e.stdout, "account %s has no balances yet\n", b.AccountID)
			return nil
		}
		fmt.Fprintf(e.stdout, "account %s\n\n", b.AccountID)
		tw := e.table()
		fmt.Fprintln(tw, "ASSET\tAVAILABLE\tHELD\tTOTAL")
		for _, x := range b.Data {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", x.Asset, amount(x.Available, x.Asset), amount(x.Held, x.Asset), amount(x.Total, x.Asset))
		}
		return tw.Flush()
	})
}

func cmdLedger(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "ledger [--account ID] [--limit N] [--cursor C] [--all]"
	fs := e.flagSet(name)
	account := fs.String("account", "", "an account `ID` you may read (default: your own)")
	pages := pagingFlags(fs, "transactions")
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

	var page wire.TransactionPage
	raw, err := pages.walk(ctx, func(ctx context.Context, cursor string, size int) (string, error) {
		p, err := c.Transactions(ctx, *account, cursor, size)
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
			return e.printJSON(page)
		}
		return e.printRaw(raw)
	}
	// Each transaction is shown by what it did to the account, which the page does not say:
	// it lists every leg. The caller's own account id comes from /v1/me.
	owner := *account
	if owner == "" {
		me, err := c.Me(ctx)
		if err != nil {
			return err
		}
		owner = me.Account.ID
	}
	if len(page.Data) == 0 {
		fmt.Fprintf(e.stdout, "account %s has no transactions\n", owner)
	} else {
		tw := e.table()
		fmt.Fprintln(tw, "TIME (UTC)\tTRANSACTION\tKIND\tAMOUNT\tCOUNTERPARTY\tMEMO")
		for _, t := range page.Data {
			delta, others := effect(t, ledger.AccountAddress(owner))
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.CreatedAt.UTC().Format(time.DateTime), t.ID, t.Kind, delta, others, oneLine(t.Memo))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	pages.more(e, "ledger", page.NextCursor)
	return nil
}

// effect describes a transaction from one account's side: the signed change of its balance
// per asset, and the other accounts the transaction touched.
func effect(t wire.Transaction, address string) (delta, others string) {
	sums := map[string]int64{}
	var assets, parties []string
	for _, x := range t.Entries {
		if x.Address != address {
			p := x.Address
			if id := ledger.OwnerOf(p); id != "" {
				p = id
			}
			if !contains(parties, p) {
				parties = append(parties, p)
			}
			continue
		}
		if _, ok := sums[x.Asset]; !ok {
			assets = append(assets, x.Asset)
		}
		sums[x.Asset] += x.Amount
	}
	var parts []string
	for _, a := range assets {
		s := amount(sums[a], a)
		if sums[a] > 0 {
			s = "+" + s
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		parts = []string{"-"}
	}
	if len(parties) == 0 {
		parties = []string{"-"}
	}
	return strings.Join(parts, ", "), strings.Join(parties, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func cmdKeysList(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "keys list [--account ID]"
	fs := e.flagSet(name)
	account := fs.String("account", "", "an account `ID` you may manage (default: your own)")
	if _, err := e.parseArgs(fs, synopsis, args, 0); err != nil {
		return err
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.KeyList, error) {
		return c.Keys(ctx, *account)
	}, func(keys *wire.KeyList) error {
		tw := e.table()
		fmt.Fprintln(tw, "KEY\tNAME\tHINT\tSCOPES\tCREATED (UTC)\tLAST USED (UTC)\tSTATUS")
		now := time.Now()
		for _, k := range keys.Data {
			status := "active"
			switch {
			case k.RevokedAt != nil:
				status = "revoked"
			case k.ExpiresAt != nil && !k.ExpiresAt.After(now):
				status = "expired"
			case k.ExpiresAt != nil:
				status = "active until " + k.ExpiresAt.UTC().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\t%s\t%s\n", k.ID, oneLine(k.Name), k.Hint, strings.Join(k.Scopes, ","),
				k.CreatedAt.UTC().Format(time.DateTime), when(k.LastUsedAt), status)
		}
		return tw.Flush()
	})
}

func cmdKeysCreate(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "keys create --name N [--scope S ...] [--account ID]"
	fs := e.flagSet(name)
	keyName := fs.String("name", "", "a `name` to recognise the key by (required)")
	var scopes listFlag
	fs.Var(&scopes, "scope", "a `scope` the key carries; repeat for more (default: the usual scopes you have)")
	account := fs.String("account", "", "create the key for this account `ID` (default: your own)")
	if _, err := e.parseArgs(fs, synopsis, args, 0); err != nil {
		return err
	}
	if *keyName == "" {
		return usageWithHelp(fs, synopsis, errors.New("--name is required"))
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.CreatedKey, error) {
		return c.CreateKey(ctx, wire.CreateKeyRequest{AccountID: *account, Name: *keyName, Scopes: scopes})
	}, func(k *wire.CreatedKey) error {
		if err := e.printPairs(
			"key", k.ID,
			"name", k.Name,
			"account", k.AccountID,
			"scopes", strings.Join(k.Scopes, " "),
			"secret", k.Secret,
		); err != nil {
			return err
		}
		fmt.Fprintln(e.stderr, "\nThe secret is shown only this once: store it now.")
		return nil
	})
}

func cmdKeysRevoke(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "keys revoke ID"
	pos, err := e.parseArgs(e.flagSet(name), synopsis, args, 1)
	if err != nil {
		return err
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Key, error) {
		return c.RevokeKey(ctx, pos[0])
	}, func(k *wire.Key) error {
		fmt.Fprintf(e.stdout, "revoked key %s (%s) of account %s\n", k.ID, oneLine(k.Name), k.AccountID)
		return nil
	})
}

func cmdTransfer(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "transfer TO AMOUNT [--memo M] [--from ID] [--idempotency-key K]"
	fs := e.flagSet(name)
	memo := fs.String("memo", "", "a `note` recorded with the transfer")
	from := fs.String("from", "", "pay from this organisation `ID` you own (default: your own account)")
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key pays once (default: a new random key)")
	pos, err := e.parseArgs(fs, synopsis, args, 2)
	if err != nil {
		return err
	}
	amt, err := parseAmount(name, pos[1])
	if err != nil {
		return err
	}
	return moneyRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Transaction, error) {
		return c.Transfer(ctx, wire.TransferRequest{
			From: *from, To: pos[0], Amount: amt.Value, Asset: string(amt.Asset), Memo: *memo,
		}, *idem)
	}, e.printMoved)
}

func cmdAdminAccountCreate(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "admin account create --kind user|org --handle H --name N [--email E] [--owner ID ...]"
	fs := e.flagSet(name)
	kind := fs.String("kind", "", "`user` or org (required)")
	handle := fs.String("handle", "", "the unique `handle` (required)")
	display := fs.String("name", "", "the display `name` (required)")
	email := fs.String("email", "", "an email `address`")
	var owners listFlag
	fs.Var(&owners, "owner", "an owner's account `ID`, for an organisation; repeat for more")
	if _, err := e.parseArgs(fs, synopsis, args, 0); err != nil {
		return err
	}
	var missing []string
	for _, f := range []struct{ flag, value string }{{"--kind", *kind}, {"--handle", *handle}, {"--name", *display}} {
		if f.value == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return usageWithHelp(fs, synopsis, fmt.Errorf("%s required", strings.Join(missing, ", ")))
	}
	return request(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Account, error) {
		return c.CreateAccount(ctx, wire.CreateAccountRequest{
			Kind: *kind, Handle: *handle, Name: *display, Email: *email, Owners: owners,
		})
	}, e.printAccount)
}

func cmdAdminCredit(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "admin credit ACCOUNT AMOUNT [--memo M] [--idempotency-key K]"
	fs := e.flagSet(name)
	memo := fs.String("memo", "", "a `note` recorded with the credit")
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key credits once (default: a new random key)")
	pos, err := e.parseArgs(fs, synopsis, args, 2)
	if err != nil {
		return err
	}
	amt, err := parseAmount(name, pos[1])
	if err != nil {
		return err
	}
	return moneyRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.Transaction, error) {
		return c.AdminCredit(ctx, wire.AdminCreditRequest{
			AccountID: pos[0], Amount: amt.Value, Asset: string(amt.Asset), Memo: *memo,
		}, *idem)
	}, e.printMoved)
}

// request is what most commands do once their arguments are checked: it makes one call with
// a client for the global settings and prints the result: with --json the body exactly as the
// server sent it, otherwise as human shows it.
func request[T any](ctx context.Context, e *env, call func(context.Context, *client.Client) (*T, error), human func(*T) error) error {
	return requestWith(ctx, e, e.client, call, human)
}

// publicRequest is request for the public reads of bounties, which need no API key and are
// sent without one.
func publicRequest[T any](ctx context.Context, e *env, call func(context.Context, *client.Client) (*T, error), human func(*T) error) error {
	return requestWith(ctx, e, e.publicClient, call, human)
}

func requestWith[T any](ctx context.Context, e *env, newClient func() (*client.Client, error), call func(context.Context, *client.Client) (*T, error), human func(*T) error) error {
	x, resp, err := sendWith(ctx, newClient, call)
	if err != nil {
		return err
	}
	if e.json {
		return e.printRaw(resp.Body)
	}
	return human(x)
}

// moneyRequest is request for a call that moves money: when the call fails with no final
// answer, the error says how to retry it safely (see moneyError); and human is also given the
// response, to show the idempotency key the call was sent with.
func moneyRequest[T any](ctx context.Context, e *env, call func(context.Context, *client.Client) (*T, error), human func(*T, *client.Response) error) error {
	x, resp, err := send(ctx, e, call)
	if err != nil {
		return e.moneyError(err, resp)
	}
	if e.json {
		return e.printRaw(resp.Body)
	}
	return human(x, resp)
}

// send makes one call with a client for the global settings, and returns its result and the
// response it came in.
func send[T any](ctx context.Context, e *env, call func(context.Context, *client.Client) (*T, error)) (*T, *client.Response, error) {
	return sendWith(ctx, e.client, call)
}

func sendWith[T any](ctx context.Context, newClient func() (*client.Client, error), call func(context.Context, *client.Client) (*T, error)) (*T, *client.Response, error) {
	var resp client.Response
	c, err := newClient()
	if err != nil {
		return nil, &resp, err
	}
	x, err := call(client.WithResponse(ctx, &resp), c)
	return x, &resp, err
}

// parseAmount reads an AMOUNT argument. A malformed, zero or negative amount is refused here,
// before any request.
func parseAmount(cmd, s string) (ledger.Amount, error) {
	a, err := ledger.ParseAmount(s)
	if err == nil {
		err = a.CheckPositive("amount")
	}
	if err != nil {
		return ledger.Amount{}, &usageError{cmd: cmd, err: errors.New(stipend.ErrorMessage(err))}
	}
	return a, nil
}

// moneyError adds advice to a failed money-moving call whose outcome is unknown: when no
// final answer came back, the server may or may not have moved the money, and the only safe
// retry is the same command with the same key, which pays at most once and shows the first
// result. A final answer (a 4xx other than "still in progress") needs no such advice.
func (e *env) moneyError(err error, resp *client.Response) error {
	if resp.IdempotencyKey == "" || resp.Attempts == 0 || !outcomeUnknown(err) {
		return err
	}
	return &unknownOutcomeError{err: err, key: resp.IdempotencyKey}
}

// outcomeUnknown reports whether err, from a money-moving request that was sent, leaves open
// whether the server ran it: no response at all (a network error, a timeout, an interrupt),
// a server error (any 5xx, 502/503/504 included once the client's retries ran out), or the
// server's 409 "conflict", which says that an earlier request with the same key is still in
// progress.
func outcomeUnknown(err error) bool {
	var ae *client.Error
	if !errors.As(err, &ae) {
		return true
	}
	return ae.StatusCode >= 500 || (ae.StatusCode == http.StatusConflict && ae.Problem.Code == "conflict")
}

// unknownOutcomeError is a money-moving request that may or may not have taken effect, and
// the idempotency key it was sent with. report prints the error as usual and then the key.
type unknownOutcomeError struct {
	err error
	key string
}

func (u *unknownOutcomeError) Error() string { return u.err.Error() + "\n" + u.advice() }

func (u *unknownOutcomeError) Unwrap() error { return u.err }

// advice is the line that tells a person how to retry without paying twice.
func (u *unknownOutcomeError) advice() string {
	return "the outcome is unknown: to retry safely, run the same command with --idempotency-key " + shellQuote(u.key)
}

// shellQuote returns s as a shell word, so that the advice can be copied as it is even when a
// key given with --idempotency-key has spaces or quotes in it.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/=+@%,", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// printMoved shows the transaction a transfer or credit made.
func (e *env) printMoved(t *wire.Transaction, resp *client.Response) error {
	var from, to, amounts []string
	for _, x := range t.Entries {
		party := x.Address
		if id := ledger.OwnerOf(party); id != "" {
			party = id
		}
		if x.Amount < 0 {
			from = append(from, party)
			continue
		}
		to = append(to, party)
		amounts = append(amounts, amount(x.Amount, x.Asset))
	}
	pairs := []string{
		"transaction", t.ID,
		"kind", t.Kind,
		"amount", strings.Join(amounts, ", "),
		"from", strings.Join(from, ", "),
		"to", strings.Join(to, ", "),
	}
	if t.Memo != "" {
		pairs = append(pairs, "memo", oneLine(t.Memo))
	}
	pairs = append(pairs, "created (UTC)", t.CreatedAt.UTC().Format(time.DateTime), "idempotency key", resp.IdempotencyKey)
	if resp.Replayed {
		pairs = append(pairs, "replayed", "yes: this key was used before, so nothing moved again")
	}
	return e.printPairs(pairs...)
}

func (e *env) printAccount(a *wire.Account) error {
	pairs := []string{"account", a.ID, "kind", a.Kind, "handle", a.Handle, "name", a.Name}
	if a.Email != "" {
		pairs = append(pairs, "email", a.Email)
	}
	if len(a.Owners) > 0 {
		pairs = append(pairs, "owners", strings.Join(a.Owners, " "))
	}
	pairs = append(pairs, "created (UTC)", a.CreatedAt.UTC().Format(time.DateTime))
	return e.printPairs(pairs...)
}

// amount formats an integer amount of an asset's minor unit as people read it.
func amount(v int64, asset string) string {
	return ledger.Amount{Value: v, Asset: ledger.Asset(asset)}.String()
}

func when(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.DateTime)
}

// oneLine keeps text from the server on one table row: control characters, tabs and line
// breaks included, would break the alignment or the terminal.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

func (e *env) table() *tabwriter.Writer {
	return tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
}

// printPairs prints labels and values as two aligned columns.
func (e *env) printPairs(kv ...string) error {
	tw := e.table()
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(tw, "%s\t%s\n", kv[i], oneLine(kv[i+1]))
	}
	return tw.Flush()
}

// printRaw prints a response body exactly as the server sent it.
func (e *env) printRaw(b []byte) error {
	if _, err := e.stdout.Write(b); err != nil {
		return err
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		_, err := io.WriteString(e.stdout, "\n")
		return err
	}
	return nil
}

// printJSON prints a result the CLI put together as indented JSON.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// listFlag is a flag that may be repeated; each use adds to the list. Commas separate
// several values in one use, too: --scope account:read,transfers:write.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

var _ flag.Value = (*listFlag)(nil)
