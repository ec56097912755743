package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stipend/stipend/api/wire"
)

// TestFundAndPayoutWithoutLightning runs the money-moving Lightning commands against the
// test server, which has no Lightning node and answers 503 "unavailable". A person must read
// why (Lightning is not configured), get exit status 1, and, since a 5xx leaves open whether
// money moved, the key the request carried: the one key of all the client's attempts, which
// a re-run with --idempotency-key sends again.
func TestFundAndPayoutWithoutLightning(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, aliceKey := ts.createUser(t, "alice")
	ok(t, ts.as(ts.admin), "admin", "credit", alice.ID, "10000 sat")
	tests := []struct {
		name   string
		args   []string
		detail string
	}{
		{"fund", []string{"fund", "2100 sat"}, "Lightning is not configured on this server"},
		{"fund and wait", []string{"fund", "2100 sat", "--wait", "--memo", "top up"}, "Lightning is not configured on this server"},
		{"fund as JSON", []string{"--json", "fund", "2100 sat", "--account", alice.ID}, "Lightning is not configured on this server"},
		{"payout to an address", []string{"payout", "bob@example.com", "1000 sat"}, "Lightning payouts are not configured on this server"},
		{"payout and wait", []string{"payout", "bob@example.com", "1000 sat", "--wait", "--max-fee", "10 sat"}, "Lightning payouts are not configured on this server"},
	}
	// The cases run in parallel inside a group, so that the check after the group sees
	// every case finished.
	t.Run("group", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				p := newProxy(t, ts.url, func(n int, w http.ResponseWriter, r *http.Request, forward http.Handler) {
					forward.ServeHTTP(w, r)
				})
				viaProxy := map[string]string{"STIPEND_SERVER": p.URL, "STIPEND_API_KEY": aliceKey}
				want := regexp.MustCompile(`^stipend: ` + regexp.QuoteMeta(tt.detail) + ` \(unavailable, request req_[0-9a-f]+\)\n` +
					`the outcome is unknown: to retry safely, run the same command with --idempotency-key (\S+)\n$`)

				r := runCLI(t, viaProxy, tt.args...)
				m := want.FindStringSubmatch(r.stderr)
				if r.code != 1 || r.stdout != "" || m == nil {
					t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and %s", r.code, r.stdout, r.stderr, want)
				}
				key := m[1]
				keys := p.idempotencyKeys()
				if len(keys) != 3 {
					t.Fatalf("the proxy saw %d requests, want 3: a 503 is retried", len(keys))
				}
				for _, k := range keys {
					if k != key {
						t.Fatalf("the proxy saw keys %q, the CLI advises %q: every attempt must carry the advised key", keys, key)
					}
				}

				// Re-running as advised sends that key again, and gets the same answer.
				r = runCLI(t, viaProxy, append(tt.args, "--idempotency-key", key)...)
				if m := want.FindStringSubmatch(r.stderr); r.code != 1 || m == nil || m[1] != key {
					t.Fatalf("the re-run: exit %d, stderr %q; want 1 and the advice with %s", r.code, r.stderr, key)
				}
				if keys := p.idempotencyKeys(); len(keys) != 6 || keys[3] != key || keys[5] != key {
					t.Fatalf("the re-run sent keys %q, want %s", keys[3:], key)
				}
			})
		}
	})
	if got := ts.availableOf(t, aliceKey, alice.ID, "BTC"); got != 10_000_000 {
		t.Fatalf("alice has %d msat, want 10000000: nothing may move", got)
	}
}

// TestPayoutsAndPreferencesWithoutLightning covers what works on a server without
// Lightning: the (empty) payouts list in both forms, showing and cancelling a payout that
// does not exist, and keeping balances as the payout preference. Sweeping to Lightning is
// refused by the server with a clear reason and, as no money moves, no idempotency advice.
func TestPayoutsAndPreferencesWithoutLightning(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, aliceKey := ts.createUser(t, "alice")
	_, bobKey := ts.createUser(t, "bob")
	env := ts.as(aliceKey)

	if r := runCLI(t, env, "payouts"); r.code != 0 || r.stdout != "account "+alice.ID+" has no payouts\n" || r.stderr != "" {
		t.Fatalf("payouts: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{{"payouts"}, {"payouts", "--all", "--limit", "1"}, {"payouts", "--account", alice.ID}} {
		var page wire.PayoutPage
		okJSON(t, env, &page, args...)
		if page.AccountID != alice.ID || page.Data == nil || len(page.Data) != 0 || page.NextCursor != "" {
			t.Fatalf("stipend %q --json = %+v, want an empty page of alice's", args, page)
		}
	}

	notFound := regexp.MustCompile(`^stipend: [^\n]+ \(not_found, request req_[0-9a-f]+\)\n$`)
	for _, args := range [][]string{
		{"payouts", "show", "po_missing"},
		{"payouts", "--json", "show", "po_missing"},
		// A 404 is a final answer: nothing was cancelled, and no key needs keeping.
		{"payouts", "cancel", "po_missing"},
		{"payouts", "cancel", "po_missing", "--idempotency-key", "cancel-1"},
	} {
		if r := runCLI(t, env, args...); r.code != 1 || r.stdout != "" || !notFound.MatchString(r.stderr) {
			t.Fatalf("stipend %q: exit %d, stdout %q, stderr %q; want 1 and %s", args, r.code, r.stdout, r.stderr, notFound)
		}
	}

	if out := ok(t, env, "preferences"); out != "account "+alice.ID+" has no payout preferences: every balance is kept\n" {
		t.Fatalf("preferences with none set:\n%s", out)
	}
	out := ok(t, env, "preferences", "set", "usd", "--rail", "keep")
	if !regexp.MustCompile(`(?m)^asset\s+USD$`).MatchString(out) || !regexp.MustCompile(`(?m)^rail\s+keep$`).MatchString(out) {
		t.Fatalf("preferences set usd --rail keep:\n%s", out)
	}
	var eur wire.PayoutPreference
	okJSON(t, env, &eur, "preferences", "set", "EUR", "--rail", "keep", "--account", alice.ID)
	if eur.Asset != "EUR" || eur.Rail != "keep" || eur.Unit != "cent" {
		t.Fatalf("preferences set EUR --json = %+v", eur)
	}
	out = ok(t, env, "preferences")
	if !regexp.MustCompile(`(?m)^USD\s+keep\s+-\s+-\s+\d{4}-\d\d-\d\d `).MatchString(out) ||
		!regexp.MustCompile(`(?m)^EUR\s+keep\s+-\s+-\s+\d{4}-\d\d-\d\d `).MatchString(out) {
		t.Fatalf("preferences table:\n%s", out)
	}
	var prefs wire.PayoutPreferences
	okJSON(t, env, &prefs, "preferences")
	if prefs.AccountID != alice.ID || len(prefs.Data) != 2 {
		t.Fatalf("preferences --json = %+v", prefs)
	}

	r := runCLI(t, env, "preferences", "set", "BTC", "--rail", "lightning", "--to", "alice@example.com", "--minimum", "10000 sat")
	want := regexp.MustCompile(`^stipend: Lightning payouts are not configured on this server \(unavailable, request req_[0-9a-f]+\)\n$`)
	if r.code != 1 || r.stdout != "" || !want.MatchString(r.stderr) {
		t.Fatalf("preferences set --rail lightning: exit %d, stdout %q, stderr %q; want 1 and %s", r.code, r.stdout, r.stderr, want)
	}
	okJSON(t, env, &prefs, "preferences")
	if len(prefs.Data) != 2 {
		t.Fatalf("the refused preference was stored: %+v", prefs)
	}

	// Bob may read neither alice's payouts nor her preferences.
	forbidden := regexp.MustCompile(`^stipend: [^\n]+ \(forbidden, request req_[0-9a-f]+\)\n$`)
	for _, args := range [][]string{{"payouts", "--account", alice.ID}, {"preferences", "--account", alice.ID}} {
		if r := runCLI(t, ts.as(bobKey), args...); r.code != 1 || !forbidden.MatchString(r.stderr) {
			t.Fatalf("bob: stipend %q: exit %d, stderr %q; want 1 and %s", args, r.code, r.stderr, forbidden)
		}
	}
}

// TestLightningArgumentsAreRefusedBeforeAnyRequest checks that malformed amounts, missing
// destinations and impossible preferences exit with 2 and say what is wrong, and that
// nothing reaches the server.
func TestLightningArgumentsAreRefusedBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	url, requests := countingServer(t)
	env := map[string]string{"STIPEND_SERVER": url, "STIPEND_API_KEY": "stp_not-used-because-nothing-is-sent"}
	set := []string{"preferences", "set"}
	tests := []refusal{
		{[]string{"fund"}, "needs 1 argument(s), got 0"},
		{[]string{"fund", "12"}, "needs a number and a unit"},
		{[]string{"fund", "0 sat"}, "greater than zero"},
		{[]string{"fund", "0.0001 sat", "--wait"}, "too many decimal places"},
		{[]string{"fund", "2100", "sat"}, "quote an amount"},
		{[]string{"payout"}, "needs 1 to 2 argument(s), got 0"},
		{[]string{"payout", "--wait"}, "needs 1 to 2 argument(s), got 0"},
		{[]string{"payout", " "}, "DESTINATION is empty"},
		{[]string{"payout", "bob@example.com"}, "a Lightning Address or LNURL needs an AMOUNT"},
		{[]string{"payout", "lightning:LNURL1DP68GURN8GHJ7UM9WFMXJCM99E3K7MF0V9CXJ0M385EKVCENXC6R2C35XVUKXEFCV5MKVV34X5EKZD3EV56NYD3HXQURZEPEXEJXXEPNXSCRVWFNV9NXZCN9XQ6XYEFHVGCXXCMYXYMNSERXFQ5FNS"}, "needs an AMOUNT"},
		{[]string{"payout", "bob@example.com", "1000", "sat"}, "quote an amount"},
		{[]string{"payout", "bob@example.com", "1,5 sat"}, "amount"},
		{[]string{"payout", "bob@example.com", "5 XYZ"}, "unknown unit"},
		{[]string{"payout", "bob@example.com", "--", "-1 sat"}, "greater than zero"},
		{[]string{"payout", "lnbc1invoice", "--max-fee", "5 USD"}, "Lightning fees are paid in BTC"},
		{[]string{"payout", "lnbc1invoice", "--max-fee", "ten"}, "--max-fee: amount"},
		{[]string{"payout", "lnbc1invoice", "--max-fee", "-1 sat"}, "must not be negative"},
		{[]string{"payouts", "--limit", "501"}, "must be 1 to 500"},
		{[]string{"payouts", "shwo", "po_1"}, `unknown subcommand "shwo": use show or cancel`},
		{[]string{"payouts", "show"}, "needs 1 argument(s), got 0"},
		{[]string{"payouts", "cancel"}, "needs 1 argument(s), got 0"},
		{[]string{"payouts", "cancel", "po_1", "po_2"}, "takes 1 argument(s), got 2"},
		{[]string{"preferences", "oops"}, `unknown subcommand "oops": use set`},
		{set, "needs 1 argument(s), got 0"},
		{append(set, "BTC"), "--rail is required: lightning or keep"},
		{append(set, "XYZ", "--rail", "keep"), `unknown asset "XYZ"`},
		{append(set, "BTC", "--rail", "stripe"), `--rail "stripe": must be lightning or keep`},
		{append(set, "BTC", "--rail", "keep", "--to", "bob@example.com"), "--to and --minimum go with --rail lightning"},
		{append(set, "BTC", "--rail", "keep", "--minimum", "1 sat"), "--to and --minimum go with --rail lightning"},
		{append(set, "BTC", "--rail", "lightning"), "--to, --minimum required with --rail lightning"},
		{append(set, "BTC", "--rail", "lightning", "--to", "bob@example.com"), "--minimum required with --rail lightning"},
		{append(set, "BTC", "--rail", "lightning", "--to", "lnbc1invoice", "--minimum", "1 sat"), "give a Lightning Address (user@domain) or an LNURL"},
		{append(set, "BTC", "--rail", "lightning", "--to", "bob@example.com", "--minimum", "5 USD"), `--minimum "5 USD" is not an amount of BTC`},
		{append(set, "BTC", "--rail", "lightning", "--to", "bob@example.com", "--minimum", "0 sat"), "--minimum: must be greater than zero"},
		{append(set, "BTC", "--rail", "lightning", "--to", "bob@example.com", "--minimum", "lots"), "--minimum: amount"},
	}
	wantRefused(t, env, tests)
	wantNoRequests(t, requests)
}

// TestLightningHelp checks that the new commands are in the overview and that each prints
// its own help, with exit status 0 and no request.
func TestLightningHelp(t *testing.T) {
	t.Parallel()
	url, requests := countingServer(t)
	env := map[string]string{"STIPEND_SERVER": url, "STIPEND_API_KEY": "stp_unused"}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"fund AMOUNT", "payout DESTINATION [AMOUNT]", "payouts [show|cancel]", "preferences [set]"}},
		{[]string{"fund", "-h"}, []string{"usage: stipend fund AMOUNT", "-wait", "-idempotency-key", "-memo"}},
		{[]string{"payout", "-h"}, []string{"usage: stipend payout DESTINATION [AMOUNT]", "-max-fee AMOUNT", "-wait"}},
		{[]string{"payouts", "-h"}, []string{"usage: stipend payouts [--account ID]", "stipend payouts show ID", "stipend payouts cancel ID", "-all"}},
		{[]string{"payouts", "help"}, []string{"stipend payouts cancel ID"}},
		{[]string{"payouts", "cancel", "-h"}, []string{"usage: stipend payouts cancel ID", "-idempotency-key"}},
		{[]string{"preferences", "help"}, []string{"stipend preferences set ASSET --rail lightning|keep"}},
		{[]string{"preferences", "set", "-h"}, []string{"-rail lightning", "-to ADDRESS", "-minimum AMOUNT"}},
	}
	for _, tt := range tests {
		r := runCLI(t, env, tt.args...)
		for _, want := range tt.want {
			if r.code != 0 || !strings.Contains(r.stdout, want) {
				t.Errorf("stipend %q: exit %d, stdout:\n%s\nwant 0 and %q", tt.args, r.code, r.stdout, want)
			}
		}
	}
	wantNoRequests(t, requests)
}
