package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stipend/stipend/api/wire"
)

// questionID finds the id of the question a command printed.
func questionID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^question\s+(qst_[0-9a-f]+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the output shows no question id:\n%s", out)
	}
	return m[1]
}

// wantLines fails unless out matches every pattern, each a line of the output.
func wantLines(t *testing.T, cmd, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(`(?m)` + p).MatchString(out) {
			t.Fatalf("%s does not show %s:\n%s", cmd, p, out)
		}
	}
}

// TestExpertQuestionsThroughTheCLI is the whole path of the README's example: the operator
// registers a charity, an expert offers answers giving a quarter of the earnings to it, an
// asker finds the expert without a key and asks, and the expert answers one question from the
// command line, one from stdin and one from a file, and declines a fourth.
func TestExpertQuestionsThroughTheCLI(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	public := map[string]string{"STIPEND_SERVER": ts.url}
	out := ok(t, ts.as(ts.admin), "admin", "charity", "create", "--handle", "eff", "--name", "Electronic Frontier Foundation",
		"--receipt", "EFF, 815 Eddy St, San Francisco, CA 94109", "--lightning", "donate@eff.org", "--website", "https://www.eff.org")
	wantLines(t, "admin charity create", out, `^charity\s+eff$`, `^lightning\s+donate@eff\.org$`, `^received\s+nothing yet$`)

	expert, expertKey := ts.createUser(t, "kay")
	asker, askerKey := ts.createUser(t, "asker")
	ok(t, ts.as(ts.admin), "admin", "credit", asker.ID, "50.00 USD")

	out = ok(t, ts.as(expertKey), "expert", "set", "--name", "Kay Bernetes", "--price", "10.01 USD", "--window", "3d",
		"--topic", "kubernetes", "--topic", "etcd", "--bio", "I run clusters.", "--charity", "eff", "--charity-share", "25%")
	wantLines(t, "expert set", out, `^expert\s+`+expert.Handle+`$`, `^price\s+10\.01 USD per answer$`, `^answer window\s+3d$`,
		`^taking questions\s+yes$`, `^charity\s+eff \(Electronic Frontier Foundation\), 25 % of the earnings after the platform fee$`)

	// The directory and profiles are public: they work with no API key at all.
	out = ok(t, public, "experts", "--topic", "kubernetes")
	wantLines(t, "experts", out, expert.Handle+`\s+Kay Bernetes\s+10\.01 USD\s+3d\s+yes\s+0\s+none yet\s+eff 25 %\s+kubernetes etcd`)
	var page wire.ExpertPage
	okJSON(t, public, &page, "experts", "--q", "clusters", "--accepting")
	if len(page.Data) != 1 || page.Data[0].AccountID != expert.ID || page.Data[0].CharityShareBPS != 2500 {
		t.Fatalf("experts --json = %+v", page)
	}
	if out := ok(t, public, "experts", "--topic", "rust"); !strings.Contains(out, "no experts") {
		t.Fatalf("experts of no match:\n%s", out)
	}
	out = ok(t, public, "expert", "show", expert.Handle)
	wantLines(t, "expert show", out, `^name\s+Kay Bernetes$`, `^bio\s+I run clusters\.$`, `^rating\s+none yet$`)

	ask := func(q string) string {
		t.Helper()
		r := runCLI(t, ts.as(askerKey), "ask", expert.Handle, q)
		if r.code != 0 {
			t.Fatalf("ask: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		wantLines(t, "ask", r.stdout, `^status\s+open$`, `^price\s+10\.01 USD, held on the asker's balance$`, `^deadline \(UTC\)\s+\d{4}-`,
			`^idempotency key\s+\S+`)
		if !strings.Contains(r.stderr, "stipend question ") {
			t.Fatalf("ask does not say how to follow the question:\n%s", r.stderr)
		}
		return questionID(t, r.stdout)
	}
	q1 := ask("How do I drain a node without evicting DaemonSet pods?")
	q2 := ask("Is a 7-member etcd cluster wise?")
	q3 := ask("What does a PodDisruptionBudget protect?")
	q4 := ask("Can you review my Helm chart?")
	if got := ts.availableOf(t, askerKey, asker.ID, "USD"); got != 5000-4*1001 {
		t.Fatalf("the asker has %d cents with four questions open, want %d", got, 5000-4*1001)
	}
	out = ok(t, ts.as(expertKey), "inbox", "--status", "open")
	for _, id := range []string{q1, q2, q3, q4} {
		if !strings.Contains(out, id) {
			t.Fatalf("the inbox does not list %s:\n%s", id, out)
		}
	}

	// fee 1001 × 2.5 % = 25; charity (1001 − 25) × 25 % = 244; the expert keeps 732.
	out = ok(t, ts.as(expertKey), "answer", q1, "kubectl drain --ignore-daemonsets")
	wantLines(t, "answer", out, `^status\s+answered$`, `^paid\s+expert 7\.32 USD, charity 2\.44 USD, platform fee 0\.25 USD$`, `^idempotency key\s+\S+`)
	r := runCLIWithStdin(t, "Odd numbers, yes;\nseven is the most you want.\n", ts.as(expertKey), "answer", q2, "-")
	if r.code != 0 || !strings.Contains(r.stdout, "seven is the most") {
		t.Fatalf("answer from stdin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var answered wire.Question
	okJSON(t, ts.as(expertKey), &answered, "answer", q3, "--file", writeFile(t, "answer.md", "Voluntary evictions, not node failures.\n"))
	if answered.Status != "answered" || answered.Answer != "Voluntary evictions, not node failures.\n" || answered.Parts == nil {
		t.Fatalf("answer --file = %+v", answered)
	}
	out = ok(t, ts.as(expertKey), "decline", q4, "--reason", "Not my field.")
	wantLines(t, "decline", out, `^status\s+declined$`, `^declined because\s+Not my field\.$`)
	if got := ts.availableOf(t, expertKey, expert.ID, "USD"); got != 3*732 {
		t.Fatalf("the expert has %d cents, want three answers' earnings, %d", got, 3*732)
	}
	if got := ts.availableOf(t, askerKey, asker.ID, "USD"); got != 5000-3*1001 {
		t.Fatalf("the asker has %d cents, want the declined question's price back", got)
	}

	out = ok(t, ts.as(askerKey), "rate", q1, "5", "--comment", "Quick and right.")
	wantLines(t, "rate", out, `^rating\s+5 of 5: Quick and right\.$`)
	ok(t, ts.as(askerKey), "rate", q2, "4")
	out = ok(t, ts.as(askerKey), "question", q1)
	wantLines(t, "question", out, `^answer\s+kubectl drain --ignore-daemonsets$`, `^expert\s+`+expert.Handle+` \(`+expert.ID+`\)$`)
	out = ok(t, ts.as(askerKey), "questions", "--status", "answered")
	if !strings.Contains(out, q1) || !strings.Contains(out, q3) || strings.Contains(out, q4) || !strings.Contains(out, expert.Handle) {
		t.Fatalf("questions --status answered:\n%s", out)
	}
	var mine wire.QuestionPage
	okJSON(t, ts.as(askerKey), &mine, "questions", "--limit", "1", "--all")
	if len(mine.Data) != 4 || mine.NextCursor != "" {
		t.Fatalf("questions --all = %d questions, next %q", len(mine.Data), mine.NextCursor)
	}
	out = ok(t, public, "expert", "show", expert.Handle)
	wantLines(t, "expert show", out, `^answered\s+3$`, `^rating\s+4\.5 of 5 \(2\)$`)

	out = ok(t, public, "charities")
	wantLines(t, "charities", out, `^eff\s+Electronic Frontier Foundation\s+7\.32 USD\s+https://www\.eff\.org$`)
	out = ok(t, public, "charity", "show", "eff")
	wantLines(t, "charity show", out, `^receipt\s+EFF, 815 Eddy St`, `^received\s+7\.32 USD$`, `2\.44 USD\s+`+expert.ID+`\s+`+q1)
	var dons wire.DonationPage
	okJSON(t, public, &dons, "charity", "show", "eff")
	if len(dons.Data) != 3 || dons.Charity.Handle != "eff" {
		t.Fatalf("charity show --json = %+v", dons)
	}
}

// TestExpertCLIErrors refuses mistakes on the command line before any request (exit 2), and
// reports the server's refusals (exit 1) with the reason.
func TestExpertCLIErrors(t *testing.T) {
	t.Parallel()
	server, requests := countingServer(t)
	env := map[string]string{"STIPEND_SERVER": server, "STIPEND_API_KEY": "stp_testkeythatisnotreal"}
	set := func(extra ...string) []string {
		return append([]string{"expert", "set", "--name", "Kay", "--price", "20 sat", "--window", "72h"}, extra...)
	}
	wantRefused(t, env, []refusal{
		{[]string{"expert", "set"}, "--name, --price, --window required"},
		{[]string{"expert", "set", "--name", "Kay", "--price", "0 sat", "--window", "1d"}, "--price: must be greater than zero"},
		{[]string{"expert", "set", "--name", "Kay", "--price", "twenty", "--window", "1d"}, "stipend expert set:"},
		{[]string{"expert", "set", "--name", "Kay", "--price", "20 sat", "--window", "soon"}, `--window "soon"`},
		{[]string{"expert", "set", "--name", "Kay", "--price", "20 sat", "--window", "-3h"}, `--window "-3h"`},
		{set("--charity-share", "25%"), "--charity-share needs --charity"},
		{set("--charity", "eff"), "--charity needs --charity-share"},
		{set("--charity", "eff", "--charity-share", "101%"), "must be at most 100%"},
		{set("--charity", "eff", "--charity-share", "12.345%"), "give a percentage"},
		{set("--charity", "eff", "--charity-share", "-5%"), "give a percentage"},
		{set("--accepting=maybe"), "invalid boolean value"},
		{[]string{"expert", "show"}, "needs 1 argument(s)"},
		{[]string{"expert"}, "name a subcommand: set, show"},
		{[]string{"ask", "kay"}, "needs 2 argument(s), got 1"},
		{[]string{"ask", "kay", "  "}, "QUESTION is empty"},
		{[]string{"ask", "kay", "why?", "--wait"}, "--wait and --timeout go with --lightning"},
		{[]string{"ask", "kay", "why?", "--timeout", "10m"}, "--wait and --timeout go with --lightning"},
		{[]string{"ask", "kay", "why?", "--lightning", "--wait=false", "--timeout", "10m"}, "--timeout goes with waiting"},
		{[]string{"ask", "kay", "why?", "--lightning", "--timeout", "0s"}, "--timeout 0s: must be a positive duration"},
		{[]string{"ask", "kay", "why?", "--lightning", "--timeout", "-5m"}, "--timeout -5m0s: must be a positive duration"},
		{[]string{"ask", "kay", "why?", "--lightning", "--timeout", "soon"}, `invalid value "soon" for flag -timeout`},
		{[]string{"ask", "kay", "why?", "--lightning=maybe"}, "invalid boolean value"},
		{[]string{"answer", "qst_1"}, "needs 2 argument(s), got 1"},
		{[]string{"answer", "qst_1", "  "}, "the answer is empty"},
		{[]string{"answer", "qst_1", "text", "--file", "answer.md"}, "not both"},
		{[]string{"answer", "qst_1", "--file", "/nonexistent/answer.md"}, "no such file"},
		{[]string{"decline"}, "needs 1 argument(s)"},
		{[]string{"rate", "qst_1", "6"}, "must be a whole number from 1 to 5"},
		{[]string{"rate", "qst_1", "five"}, "must be a whole number from 1 to 5"},
		{[]string{"question"}, "needs 1 argument(s)"},
		{[]string{"questions", "--limit", "501"}, "must be 1 to 500"},
		{[]string{"inbox", "--limit", "-1"}, "must be 1 to 500"},
		{[]string{"charity", "show"}, "needs 1 argument(s)"},
		{[]string{"admin", "charity", "create", "--handle", "eff"}, "--name, --receipt, --lightning required"},
	})
	wantNoRequests(t, requests)
	if r := runCLIWithStdin(t, " \n", env, "answer", "qst_1", "-"); r.code != 2 || !strings.Contains(r.stderr, "the answer is empty") {
		t.Fatalf("an empty answer from stdin: exit %d\n%s", r.code, r.stderr)
	}
	wantNoRequests(t, requests)

	ts := newTestServer(t)
	_, expertKey := ts.createUser(t, "kay")
	closed, closedKey := ts.createUser(t, "closed")
	asker, askerKey := ts.createUser(t, "asker")
	ok(t, ts.as(ts.admin), "admin", "credit", asker.ID, "1000 sat")
	me := ok(t, ts.as(expertKey), "expert", "set", "--name", "Kay", "--price", "100 sat", "--window", "1d")
	handle := regexp.MustCompile(`(?m)^expert\s+(\S+)$`).FindStringSubmatch(me)[1]
	out := ok(t, ts.as(closedKey), "expert", "set", "--name", "Closed", "--price", "100 sat", "--window", "1d", "--accepting=false")
	wantLines(t, "expert set --accepting=false", out, `^taking questions\s+no$`)
	for _, tt := range []struct {
		args []string
		key  string
		want string
	}{
		{[]string{"ask", "nobody-at-all", "why?"}, askerKey, "(not_found, request "},
		{[]string{"ask", closed.Handle, "why?"}, askerKey, "(conflict, request "},
		{[]string{"ask", handle, "Can I ask myself?"}, expertKey, "(invalid, request "},
		{[]string{"ask", handle, strings.Repeat("?", 5001)}, askerKey, "(invalid, request "},
		{[]string{"expert", "set", "--name", "Kay", "--price", "100 sat", "--window", "10m"}, expertKey, "answer_window"},
		{[]string{"expert", "set", "--name", "Kay", "--price", "100 sat", "--window", "1d", "--charity", "nope", "--charity-share", "10%"}, expertKey, "charity"},
		{[]string{"admin", "charity", "create", "--handle", "eff", "--name", "EFF", "--receipt", "R", "--lightning", "a@b.org"}, askerKey, "(forbidden, request "},
	} {
		r := runCLI(t, ts.as(tt.key), tt.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
			t.Errorf("stipend %q: exit %d, stderr %q; want exit 1 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	q := questionID(t, ok(t, ts.as(askerKey), "ask", handle, "Why?"))
	if r := runCLI(t, ts.as(askerKey), "answer", q, "Because I say so."); r.code != 1 || !strings.Contains(r.stderr, "forbidden") {
		t.Fatalf("the asker answering: exit %d\n%s", r.code, r.stderr)
	}
	if r := runCLI(t, ts.as(askerKey), "rate", q, "5"); r.code != 1 || !strings.Contains(r.stderr, "conflict") {
		t.Fatalf("rating an open question: exit %d\n%s", r.code, r.stderr)
	}
	if got := ts.availableOf(t, askerKey, asker.ID, "BTC"); got != 1_000_000-100_000 {
		t.Fatalf("the asker has %d msat, want one price held", got)
	}
}

// TestAskLightningWithoutLightning asks with --lightning on the test server, which has no
// Lightning node: the server refuses with 503 "unavailable", which the CLI reports with exit 1
// and, as for any 5xx on a money-moving request, the key to retry with. Nothing is held and no
// question is made; a question paid from the balance still works, and is listed as such.
func TestAskLightningWithoutLightning(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	_, expertKey := ts.createUser(t, "kay")
	asker, askerKey := ts.createUser(t, "asker")
	ok(t, ts.as(ts.admin), "admin", "credit", asker.ID, "1000 sat")
	me := ok(t, ts.as(expertKey), "expert", "set", "--name", "Kay", "--price", "100 sat", "--window", "1h")
	handle := regexp.MustCompile(`(?m)^expert\s+(\S+)$`).FindStringSubmatch(me)[1]

	want := regexp.MustCompile(`^stipend: Lightning escrow is not configured on this server; ask with escrow balance ` +
		`\(unavailable, request req_[0-9a-f]+\)\n` +
		`the outcome is unknown: to retry safely, run the same command with --idempotency-key \S+\n$`)
	for _, args := range [][]string{
		{"ask", handle, "Why?", "--lightning"},
		{"ask", handle, "Why?", "--lightning", "--wait=false"},
		{"ask", handle, "Why?", "--lightning", "--timeout", "1m"},
		{"--json", "ask", handle, "Why?", "--lightning"},
	} {
		r := runCLI(t, ts.as(askerKey), args...)
		if r.code != 1 || r.stdout != "" || !want.MatchString(r.stderr) {
			t.Errorf("stipend %q: exit %d, stdout %q, stderr %q; want exit 1 and %s", args, r.code, r.stdout, r.stderr, want)
		}
	}
	if out := ok(t, ts.as(askerKey), "questions"); out != "no questions\n" {
		t.Fatalf("questions after the refused asks:\n%s", out)
	}
	if got := ts.availableOf(t, askerKey, asker.ID, "BTC"); got != 1_000_000 {
		t.Fatalf("the asker has %d msat, want 1000000: nothing may be held", got)
	}

	q := questionID(t, ok(t, ts.as(askerKey), "ask", handle, "Why?"))
	out := ok(t, ts.as(askerKey), "questions")
	wantLines(t, "questions", out, `\sESCROW\s`, q+`\s+open\s+100 sat\s+balance\s+\d{4}-`)
}

// lightningQuestion is a question paid by hold invoice as the server shows it in status.
func lightningQuestion(status, state string) wire.Question {
	now := time.Now().UTC().Truncate(time.Second)
	q := wire.Question{ID: "qst_0123456789abcdef", ExpertID: "acct_kay", ExpertHandle: "kay", AskerID: "acct_asker",
		Question: "Why?", Price: wire.Money{Amount: 2_000_000, Asset: "BTC", Unit: "msat"}, FeeBPS: 250, Escrow: "lightning",
		Status: status, Deadline: now.Add(2 * time.Hour), CreatedAt: now,
		Invoice: &wire.HoldInvoice{PaymentHash: strings.Repeat("ab", 32), Amount: wire.Money{Amount: 2_000_000, Asset: "BTC", Unit: "msat"},
			ExpiresAt: now.Add(time.Hour), State: state}}
	if status == "awaiting_payment" {
		q.Invoice.PaymentRequest = "lnbcrt20u1pexampleinvoice"
	}
	return q
}

// holdInvoiceServer stands in for a server with Lightning: it answers an ask with a question
// awaiting payment, and every read of it with later, as if the watcher had moved it on.
func holdInvoiceServer(t *testing.T, later wire.Question) string {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, status := later, http.StatusOK
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/experts/kay/questions":
			var req wire.AskRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Escrow != "lightning" {
				http.Error(w, "want an ask with escrow lightning", http.StatusBadRequest)
				return
			}
			q, status = lightningQuestion("awaiting_payment", "open"), http.StatusCreated
		case r.Method == http.MethodGet && r.URL.Path == "/v1/questions/"+later.ID:
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(q)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

// TestAskLightningOutcomes follows a question paid by hold invoice to each end that --wait
// tells apart: open (exit 0, the payment held until the deadline), unpaid (exit 1, nothing
// charged), and still awaiting payment when --timeout passes (exit 1, the invoice still
// payable). The invoice is printed on a line of its own in every case.
func TestAskLightningOutcomes(t *testing.T) {
	t.Parallel()
	env := func(url string) map[string]string {
		return map[string]string{"STIPEND_SERVER": url, "STIPEND_API_KEY": "stp_testkeythatisnotreal"}
	}
	awaiting := []string{`^question\s+qst_0123456789abcdef$`, `^status\s+awaiting_payment$`,
		`^price\s+2000 sat, held by a Lightning hold invoice \(open: not paid yet\)$`, `^invoice\s+lnbcrt20u1pexampleinvoice$`,
		`^invoice expires \(UTC\)\s+\d{4}-`, `^payment hash\s+(ab){32}$`, `^deadline \(UTC\)\s+\d{4}-.*, at the latest`}

	t.Run("open", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, env(holdInvoiceServer(t, lightningQuestion("open", "accepted"))), "ask", "kay", "Why?", "--lightning", "--wait")
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		wantLines(t, "ask --lightning", r.stdout, append(awaiting, `^status\s+open$`,
			`^price\s+2000 sat, held by a Lightning hold invoice \(accepted\)$`)...)
		if !strings.Contains(r.stderr, "taken only if the expert answers") || !strings.Contains(r.stderr, "stipend question qst_0123456789abcdef") {
			t.Fatalf("ask --lightning does not say what happens to the payment:\n%s", r.stderr)
		}
	})
	t.Run("unpaid", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, env(holdInvoiceServer(t, lightningQuestion("unpaid", "canceled"))), "ask", "kay", "Why?", "--lightning")
		wantLines(t, "ask --lightning", r.stdout, awaiting...)
		if r.code != 1 || !strings.Contains(r.stderr, "stipend: question qst_0123456789abcdef ended unpaid: its invoice was not paid in time, and nothing was charged\n") {
			t.Fatalf("exit %d, stderr %q; want exit 1 and the question unpaid", r.code, r.stderr)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, env(holdInvoiceServer(t, lightningQuestion("awaiting_payment", "open"))), "ask", "kay", "Why?", "--lightning", "--timeout", "1s")
		wantLines(t, "ask --lightning", r.stdout, awaiting...)
		want := regexp.MustCompile(`stipend: question qst_0123456789abcdef was not paid within --timeout 1s\n` +
			`stopped waiting: its invoice can still be paid until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; follow the question with: stipend question qst_0123456789abcdef\n$`)
		if r.code != 1 || !want.MatchString(r.stderr) {
			t.Fatalf("exit %d, stderr %q; want exit 1 and %s", r.code, r.stderr, want)
		}
	})
	t.Run("no wait", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, env(holdInvoiceServer(t, lightningQuestion("open", "accepted"))), "ask", "kay", "Why?", "--lightning", "--wait=false")
		if r.code != 0 || regexp.MustCompile(`(?m)^status\s+open$`).MatchString(r.stdout) {
			t.Fatalf("exit %d, want 0 without waiting for the question to open\n%s%s", r.code, r.stdout, r.stderr)
		}
		wantLines(t, "ask --lightning --wait=false", r.stdout, awaiting...)
		if !strings.Contains(r.stderr, "Pay the invoice by ") {
			t.Fatalf("ask --lightning --wait=false does not say by when to pay:\n%s", r.stderr)
		}
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, env(holdInvoiceServer(t, lightningQuestion("open", "accepted"))), "--json", "ask", "kay", "Why?", "--lightning")
		var q wire.Question
		if err := json.Unmarshal([]byte(r.stdout), &q); r.code != 0 || err != nil || q.Status != "open" || q.Invoice.State != "accepted" {
			t.Fatalf("exit %d, stdout %q (%v); want the open question as JSON", r.code, r.stdout, err)
		}
		if !strings.Contains(r.stderr, "pay this invoice: lnbcrt20u1pexampleinvoice\n") {
			t.Fatalf("ask --lightning --json does not give the invoice on stderr:\n%s", r.stderr)
		}
	})
}
