package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stipend/stipend/api/wire"
)

// listQuestionID finds the id of the list question a command printed.
func listQuestionID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^list question\s+(lqs_[0-9a-f]+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the output shows no list question id:\n%s", out)
	}
	return m[1]
}

// TestExpertListsThroughTheCLI is the README's example of lists: the operator makes a list of
// three experts, an asker finds it without a key and buys two responses, two members reply,
// one from stdin and one from a file, and the third is refused.
func TestExpertListsThroughTheCLI(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	public := map[string]string{"STIPEND_SERVER": ts.url}
	ok(t, ts.as(ts.admin), "admin", "charity", "create", "--handle", "eff", "--name", "Electronic Frontier Foundation",
		"--receipt", "EFF, 815 Eddy St, San Francisco, CA 94109", "--lightning", "donate@eff.org")
	var members []wire.Account
	var keys []string
	for i, h := range []string{"kay", "lee", "max"} {
		a, key := ts.createUser(t, h)
		args := []string{"expert", "set", "--name", "Expert " + h, "--price", "30.00 USD", "--window", "1d"}
		if i == 0 {
			args = append(args, "--charity", "eff", "--charity-share", "25%")
		}
		ok(t, ts.as(key), args...)
		members, keys = append(members, a), append(keys, key)
	}
	asker, askerKey := ts.createUser(t, "asker")
	ok(t, ts.as(ts.admin), "admin", "credit", asker.ID, "50.00 USD")

	out := ok(t, ts.as(ts.admin), "admin", "list", "create", "--handle", "kubernetes", "--name", "Kubernetes", "--price", "10.01 USD",
		"--window", "3d", "--member", members[0].Handle, "--member", members[1].Handle+","+members[2].ID, "--description", "Clusters and etcd.")
	wantLines(t, "admin list create", out, `^list\s+kubernetes$`, `^price\s+10\.01 USD per response$`, `^answer window\s+3d$`,
		`^members\s+3$`, `^`+members[2].Handle+`\s+Expert max\s+`+members[2].ID+`$`)

	// Lists are public: they work with no API key at all.
	out = ok(t, public, "lists")
	wantLines(t, "lists", out, `^kubernetes\s+Kubernetes\s+10\.01 USD\s+3d\s+3\s+Clusters and etcd\.$`)
	out = ok(t, public, "list", "show", "kubernetes")
	wantLines(t, "list show", out, `^description\s+Clusters and etcd\.$`, `^`+members[0].Handle+`\s+Expert kay\s+`+members[0].ID+`$`)
	var l wire.List
	okJSON(t, public, &l, "list", "show", "kubernetes")
	if len(l.Members) != 3 || l.Members[1].Handle != members[1].Handle {
		t.Fatalf("list show --json = %+v", l)
	}

	r := runCLI(t, ts.as(askerKey), "ask-list", "kubernetes", "Which ingress controller?", "--responses", "2")
	if r.code != 0 {
		t.Fatalf("ask-list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wantLines(t, "ask-list", r.stdout, `^status\s+open$`, `^escrow\s+20\.02 USD for 2 responses, held on the asker's balance$`,
		`^paid\s+0 of 2 responses$`, `^idempotency key\s+\S+`)
	if !strings.Contains(r.stderr, "stipend list-question ") {
		t.Fatalf("ask-list does not say how to follow the question:\n%s", r.stderr)
	}
	q := listQuestionID(t, r.stdout)
	if got := ts.availableOf(t, askerKey, asker.ID, "USD"); got != 5000-2002 {
		t.Fatalf("the asker has %d cents with two responses held, want %d", got, 5000-2002)
	}
	out = ok(t, ts.as(keys[2]), "list-inbox", "--status", "open")
	if !strings.Contains(out, q) || !strings.Contains(out, "0 of 2") {
		t.Fatalf("the list inbox does not list %s:\n%s", q, out)
	}

	// fee 1001 × 2.5 % = 25; kay gives (1001 − 25) × 25 % = 244 and keeps 732; lee keeps 976.
	r = runCLIWithStdin(t, "Gateway API,\nwith Envoy.\n", ts.as(keys[0]), "reply", q, "-")
	if r.code != 0 {
		t.Fatalf("reply from stdin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wantLines(t, "reply", r.stdout, `^paid\s+1 of 2 responses$`, `^  paid\s+expert 7\.32 USD, charity 2\.44 USD, platform fee 0\.25 USD \(25 % to `)
	var done wire.ListQuestion
	okJSON(t, ts.as(keys[1]), &done, "reply", q, "--file", writeFile(t, "reply.md", "ingress-nginx still.\n"))
	if done.Status != "completed" || len(done.Replies) != 2 || done.Replies[1].Answer != "ingress-nginx still.\n" || done.Replies[1].Parts.Earnings.Amount != 976 {
		t.Fatalf("reply --file = %+v", done)
	}
	if r := runCLI(t, ts.as(keys[2]), "reply", q, "Traefik."); r.code != 1 || !strings.Contains(r.stderr, "(conflict, request ") {
		t.Fatalf("a third reply: exit %d\n%s", r.code, r.stderr)
	}
	if got := ts.availableOf(t, keys[0], members[0].ID, "USD"); got != 732 {
		t.Fatalf("kay has %d cents, want 732", got)
	}

	out = ok(t, ts.as(askerKey), "list-question", q)
	wantLines(t, "list-question", out, `^status\s+completed$`, `^reply 1\s+`+members[0].ID+` at `, `^reply 2\s+`+members[1].ID+` at `,
		`^  answer\s+ingress-nginx still\.`)
	out = ok(t, ts.as(askerKey), "list-questions", "--status", "completed")
	if !strings.Contains(out, q) || !strings.Contains(out, "2 of 2") {
		t.Fatalf("list-questions --status completed:\n%s", out)
	}
	var mine wire.ListQuestionPage
	okJSON(t, ts.as(askerKey), &mine, "list-questions", "--limit", "1", "--all")
	if len(mine.Data) != 1 || mine.NextCursor != "" {
		t.Fatalf("list-questions --all = %+v", mine)
	}
	if out := ok(t, ts.as(askerKey), "list-questions", "--status", "expired"); !strings.Contains(out, "no list questions") {
		t.Fatalf("list-questions --status expired:\n%s", out)
	}
}

// TestExpertListCLIErrors refuses mistakes on the command line before any request (exit 2),
// and reports the server's refusals (exit 1) with the reason.
func TestExpertListCLIErrors(t *testing.T) {
	t.Parallel()
	server, requests := countingServer(t)
	env := map[string]string{"STIPEND_SERVER": server, "STIPEND_API_KEY": "stp_testkeythatisnotreal"}
	create := func(extra ...string) []string {
		return append([]string{"admin", "list", "create", "--handle", "k8s", "--name", "K8s", "--member", "kay"}, extra...)
	}
	wantRefused(t, env, []refusal{
		{[]string{"admin", "list", "create"}, "--handle, --name, --price, --window, --member required"},
		{create("--window", "1d"), "--price required"},
		{create("--price", "0 sat", "--window", "1d"), "--price: must be greater than zero"},
		{create("--price", "twenty", "--window", "1d"), "stipend admin list create:"},
		{create("--price", "20 sat", "--window", "soon"), `--window "soon"`},
		{[]string{"admin", "list"}, "name a subcommand: create"},
		{[]string{"list"}, "name a subcommand: show"},
		{[]string{"list", "show"}, "needs 1 argument(s)"},
		{[]string{"lists", "extra"}, "takes no arguments"},
		{[]string{"ask-list", "kubernetes"}, "needs 2 argument(s), got 1"},
		{[]string{"ask-list", "kubernetes", "  ", "--responses", "1"}, "QUESTION is empty"},
		{[]string{"ask-list", "kubernetes", "Why?"}, "--responses required"},
		{[]string{"ask-list", "kubernetes", "Why?", "--responses", "0"}, "--responses required"},
		{[]string{"ask-list", "kubernetes", "Why?", "--responses", "two"}, "invalid value"},
		{[]string{"reply", "lqs_1"}, "needs 2 argument(s), got 1"},
		{[]string{"reply", "lqs_1", "  "}, "the reply is empty"},
		{[]string{"reply", "lqs_1", "text", "--file", "reply.md"}, "not both"},
		{[]string{"reply", "lqs_1", "--file", "/nonexistent/reply.md"}, "no such file"},
		{[]string{"list-question"}, "needs 1 argument(s)"},
		{[]string{"list-questions", "--limit", "501"}, "must be 1 to 500"},
		{[]string{"list-inbox", "--limit", "-1"}, "must be 1 to 500"},
	})
	wantNoRequests(t, requests)
	if r := runCLIWithStdin(t, " \n", env, "reply", "lqs_1", "-"); r.code != 2 || !strings.Contains(r.stderr, "the reply is empty") {
		t.Fatalf("an empty reply from stdin: exit %d\n%s", r.code, r.stderr)
	}
	wantNoRequests(t, requests)

	ts := newTestServer(t)
	_, expertKey := ts.createUser(t, "kay")
	nobody, _ := ts.createUser(t, "nobody")
	asker, askerKey := ts.createUser(t, "asker")
	_, poorKey := ts.createUser(t, "poor")
	ok(t, ts.as(ts.admin), "admin", "credit", asker.ID, "1000 sat")
	me := ok(t, ts.as(expertKey), "expert", "set", "--name", "Kay", "--price", "100 sat", "--window", "1d")
	handle := regexp.MustCompile(`(?m)^expert\s+(\S+)$`).FindStringSubmatch(me)[1]
	ok(t, ts.as(ts.admin), "admin", "list", "create", "--handle", "k8s", "--name", "K8s", "--price", "100 sat", "--window", "1d", "--member", handle)
	for _, tt := range []struct {
		args []string
		key  string
		want string
	}{
		{[]string{"admin", "list", "create", "--handle", "mine", "--name", "M", "--price", "1 sat", "--window", "1d", "--member", handle}, askerKey, "(forbidden, request "},
		{[]string{"admin", "list", "create", "--handle", "k8s", "--name", "M", "--price", "1 sat", "--window", "1d", "--member", handle}, ts.admin, "(conflict, request "},
		{[]string{"admin", "list", "create", "--handle", "other", "--name", "M", "--price", "1 sat", "--window", "1d", "--member", nobody.Handle}, ts.admin, "(not_found, request "},
		{[]string{"admin", "list", "create", "--handle", "other", "--name", "M", "--price", "1 sat", "--window", "10m", "--member", handle}, ts.admin, "answer_window"},
		{[]string{"ask-list", "no-such-list", "Why?", "--responses", "1"}, askerKey, "(not_found, request "},
		{[]string{"ask-list", "k8s", "Why?", "--responses", "2"}, askerKey, "(invalid, request "},
		{[]string{"ask-list", "k8s", "Why?", "--responses", "1"}, poorKey, "(insufficient_funds, request "},
	} {
		r := runCLI(t, ts.as(tt.key), tt.args...)
		if r.code != 1 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
			t.Errorf("stipend %q: exit %d, stderr %q; want exit 1 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	q := listQuestionID(t, ok(t, ts.as(askerKey), "ask-list", "k8s", "Why?", "--responses", "1"))
	if r := runCLI(t, ts.as(askerKey), "reply", q, "Because I say so."); r.code != 1 || !strings.Contains(r.stderr, "forbidden") {
		t.Fatalf("the asker replying: exit %d\n%s", r.code, r.stderr)
	}
	if got := ts.availableOf(t, askerKey, asker.ID, "BTC"); got != 1_000_000-100_000 {
		t.Fatalf("the asker has %d msat, want one response held", got)
	}
}
