package bounties

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
)

// stubGitHub answers every code with one login. The real client is tested against GitHub's
// endpoints in internal/githubauth; here only the signing of the flow is under test.
type stubGitHub struct{ login string }

func (g stubGitHub) AuthorizeURL(state string) string {
	return "https://github.example/login/oauth/authorize?state=" + url.QueryEscape(state)
}
func (g stubGitHub) Login(context.Context, string) (string, error) { return g.login, nil }

func linkService(now *time.Time, key string) *Service {
	return NewService(nil, nil, Options{GitHub: stubGitHub{"octo-dev"}, LinkKey: []byte(key), Now: func() time.Time { return *now }})
}

func person(id string, scopes ...string) *accounts.Principal {
	if scopes == nil {
		scopes = accounts.DefaultScopes()
	}
	return &accounts.Principal{Account: accounts.Account{ID: id, Kind: accounts.KindUser}, Key: accounts.Key{AccountID: id, Scopes: scopes}}
}

func stateOf(t *testing.T, start *LinkStart) string {
	t.Helper()
	u, err := url.Parse(start.AuthorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("state")
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := stipend.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func TestGitHubLinkCodes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	s := linkService(&now, "key-one")
	ctx := context.Background()
	start, err := s.StartGitHubLink(ctx, person("acct-a"))
	if err != nil {
		t.Fatal(err)
	}
	state := stateOf(t, start)
	proof, err := s.FinishGitHubLink(ctx, state, "code")
	if err != nil || proof.Login != "octo-dev" {
		t.Fatalf("Finish = %+v, %v", proof, err)
	}

	t.Run("a state is not a confirmation, nor the reverse", func(t *testing.T) {
		_, err := s.verify(tokenConfirm, state, 2)
		wantCode(t, err, stipend.EINVALID)
		_, err = s.FinishGitHubLink(ctx, proof.Code, "code")
		wantCode(t, err, stipend.EINVALID)
	})
	t.Run("a confirmation names the account and the login", func(t *testing.T) {
		fields, err := s.verify(tokenConfirm, proof.Code, 2)
		if err != nil || fields[0] != "acct-a" || fields[1] != "octo-dev" {
			t.Fatalf("verify = %q, %v", fields, err)
		}
	})
	t.Run("another account cannot confirm it", func(t *testing.T) {
		_, _, err := s.ConfirmGitHubLink(ctx, person("acct-b"), proof.Code)
		wantCode(t, err, stipend.EFORBIDDEN)
	})
	t.Run("tampering is refused", func(t *testing.T) {
		parts := strings.Split(proof.Code, ".")
		for i := range parts {
			forged := append([]string(nil), parts...)
			forged[i] = "x" + forged[i]
			_, err := s.verify(tokenConfirm, strings.Join(forged, "."), 2)
			wantCode(t, err, stipend.EINVALID)
		}
		// A login swapped in keeps the shape and loses the MAC.
		swapped := parts[0] + "." + parts[1] + "." + parts[2] + ".dmljdGlt." + parts[4]
		_, err := s.verify(tokenConfirm, swapped, 2)
		wantCode(t, err, stipend.EINVALID)
		for _, bad := range []string{"", ".", "....", strings.Repeat("a", 2000)} {
			_, err := s.verify(tokenConfirm, bad, 2)
			wantCode(t, err, stipend.EINVALID)
		}
	})
	t.Run("another server's key refuses it", func(t *testing.T) {
		other := linkService(&now, "key-two")
		_, err := other.verify(tokenConfirm, proof.Code, 2)
		wantCode(t, err, stipend.EINVALID)
	})
	t.Run("both halves expire", func(t *testing.T) {
		later := now.Add(linkTTL)
		late := linkService(&later, "key-one")
		_, err := late.FinishGitHubLink(ctx, state, "code")
		wantCode(t, err, stipend.EINVALID)
		_, err = late.verify(tokenConfirm, proof.Code, 2)
		wantCode(t, err, stipend.EINVALID)
	})
}

func TestGitHubLinkIsForAPersonsOwnKey(t *testing.T) {
	t.Parallel()
	now := time.Now()
	s := linkService(&now, "key")
	ctx := context.Background()
	org := person("org-1")
	org.Account.Kind = accounts.KindOrg
	for name, p := range map[string]*accounts.Principal{
		"a CI token":   person("acct-a", "ci:report:bounty-1"),
		"read only":    person("acct-a", accounts.ScopeRead),
		"an operator":  person("admin", accounts.ScopeAdmin),
		"organisation": org,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.StartGitHubLink(ctx, p)
			wantCode(t, err, stipend.EFORBIDDEN)
			_, _, err = s.ConfirmGitHubLink(ctx, p, "anything")
			wantCode(t, err, stipend.EFORBIDDEN)
		})
	}
	off := NewService(nil, nil, Options{})
	_, err := off.StartGitHubLink(ctx, person("acct-a"))
	wantCode(t, err, stipend.EUNAVAILABLE)
	_, err = off.FinishGitHubLink(ctx, "s", "c")
	wantCode(t, err, stipend.EUNAVAILABLE)
}
