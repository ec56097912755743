package githubauth_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/githubauth"
	"github.com/stipend/stipend/internal/githubauth/githubtest"
)

func newClient(t *testing.T, gh *githubtest.Server, secret string) *githubauth.Client {
	t.Helper()
	return githubauth.New(githubauth.Config{ClientID: gh.ClientID, ClientSecret: secret, WebURL: gh.URL,
		APIURL: gh.APIURL(), RedirectURL: "https://stipend.example/v1/github/callback"})
}

func TestAuthorizeURLNamesTheAppTheStateAndTheCallback(t *testing.T) {
	t.Parallel()
	gh := githubtest.Start(t)
	u, err := url.Parse(newClient(t, gh, gh.ClientSecret).AuthorizeURL("st.ate"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Path != "/login/oauth/authorize" || q.Get("client_id") != gh.ClientID || q.Get("state") != "st.ate" ||
		q.Get("redirect_uri") != "https://stipend.example/v1/github/callback" || q.Has("scope") {
		t.Fatalf("authorize URL %s", u)
	}
}

func TestLoginExchangesACodeOnce(t *testing.T) {
	t.Parallel()
	gh := githubtest.Start(t)
	c := newClient(t, gh, gh.ClientSecret)
	code := gh.Authorize("Octo-Dev")
	login, err := c.Login(context.Background(), code)
	if err != nil || login != "Octo-Dev" {
		t.Fatalf("Login = %q, %v", login, err)
	}
	// GitHub's codes are single-use: a replayed callback proves nothing.
	if _, err := c.Login(context.Background(), code); stipend.ErrorCode(err) != stipend.EINVALID {
		t.Fatalf("second exchange: %v, want %s", err, stipend.EINVALID)
	}
}

func TestLoginErrors(t *testing.T) {
	t.Parallel()
	gh := githubtest.Start(t)
	for _, tc := range []struct {
		name   string
		client *githubauth.Client
		code   string
		want   string
	}{
		{"unknown code", newClient(t, gh, gh.ClientSecret), "nope", stipend.EINVALID},
		{"wrong client secret", newClient(t, gh, "not-the-secret"), gh.Authorize("someone"), stipend.EUNAVAILABLE},
		{"GitHub unreachable", githubauth.New(githubauth.Config{ClientID: "x", ClientSecret: "y", WebURL: "http://127.0.0.1:1",
			APIURL: "http://127.0.0.1:1/"}), "code", stipend.EUNAVAILABLE},
		{"GitHub answers with an error page", githubauth.New(githubauth.Config{ClientID: "x", ClientSecret: "y", WebURL: gh.URL + "/nothing",
			APIURL: gh.APIURL()}), "code", stipend.EUNAVAILABLE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tc.client.Login(context.Background(), tc.code); stipend.ErrorCode(err) != tc.want {
				t.Fatalf("Login: %v, want %s", err, tc.want)
			}
		})
	}
}

func TestLinkKeyDependsOnTheSecret(t *testing.T) {
	t.Parallel()
	a, b := githubauth.LinkKey("secret-one-0123456789"), githubauth.LinkKey("secret-two-0123456789")
	if len(a) != 32 || string(a) == string(b) || string(a) != string(githubauth.LinkKey("secret-one-0123456789")) {
		t.Fatal("LinkKey is not a stable 32-byte key per secret")
	}
}
