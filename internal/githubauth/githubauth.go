// Package githubauth learns which GitHub login a person holds, through GitHub's OAuth web
// flow: Stipend sends them to GitHub to authorise, GitHub sends them back with a code, and
// the code is exchanged for a token that reads their login with go-github. It implements
// bounties.GitHubAuth.
package githubauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v79/github"

	"github.com/stipend/stipend"
)

// Config names the OAuth app and where GitHub is.
type Config struct {
	ClientID     string
	ClientSecret string
	// WebURL is GitHub's web address (https://github.com, or a GitHub Enterprise server);
	// APIURL its REST API (https://api.github.com).
	WebURL string
	APIURL string
	// RedirectURL is Stipend's callback, registered with the OAuth app.
	RedirectURL string
}

// Client talks to GitHub for one OAuth app.
type Client struct {
	cfg  Config
	http *http.Client
}

// New returns a Client.
func New(cfg Config) *Client {
	cfg.WebURL = strings.TrimSuffix(cfg.WebURL, "/")
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	return &Client{cfg: cfg, http: &http.Client{Timeout: 15 * time.Second}}
}

// AuthorizeURL is where a person goes to let Stipend read their login. The app asks for no
// scope: the public profile is all it reads.
func (c *Client) AuthorizeURL(state string) string {
	q := url.Values{"client_id": {c.cfg.ClientID}, "redirect_uri": {c.cfg.RedirectURL}, "state": {state}, "allow_signup": {"false"}}
	return c.cfg.WebURL + "/login/oauth/authorize?" + q.Encode()
}

// tokenResponse is GitHub's answer to a code exchange.
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// Login exchanges an OAuth code for a token and returns the login it belongs to.
// Returns EINVALID (a code GitHub refused: unknown, used or expired) and EUNAVAILABLE (GitHub
// unreachable, or refusing the app itself).
func (c *Client) Login(ctx context.Context, code string) (string, error) {
	form := url.Values{"client_id": {c.cfg.ClientID}, "client_secret": {c.cfg.ClientSecret}, "code": {code}, "redirect_uri": {c.cfg.RedirectURL}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.WebURL+"/login/oauth/access_token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", &stipend.Error{Code: stipend.EUNAVAILABLE, Message: "GitHub could not be reached", Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", &stipend.Error{Code: stipend.EUNAVAILABLE, Message: "GitHub did not exchange the code", Err: fmt.Errorf("status %d: %v", resp.StatusCode, err)}
	}
	var tok tokenResponse
	if err := json.Unmarshal(body, &tok); err != nil {
		return "", &stipend.Error{Code: stipend.EUNAVAILABLE, Message: "GitHub's answer was not understood", Err: err}
	}
	switch {
	case tok.Error == "bad_verification_code":
		return "", stipend.Errorf(stipend.EINVALID, "GitHub refused the code, which was used already or has expired; start the link again")
	case tok.Error != "" || tok.AccessToken == "":
		// The app's own settings are wrong (its secret, its callback): the person can do
		// nothing about it, the operator can.
		return "", &stipend.Error{Code: stipend.EUNAVAILABLE, Message: "GitHub sign-in is misconfigured on this server",
			Err: fmt.Errorf("GitHub refused the code exchange: %s: %s", tok.Error, tok.ErrorDescription)}
	}
	gh := github.NewClient(c.http).WithAuthToken(tok.AccessToken)
	if gh.BaseURL, err = url.Parse(c.cfg.APIURL); err != nil {
		return "", err
	}
	user, _, err := gh.Users.Get(ctx, "")
	if err != nil {
		return "", &stipend.Error{Code: stipend.EUNAVAILABLE, Message: "GitHub did not say who authorised", Err: err}
	}
	if user.GetLogin() == "" {
		return "", stipend.Errorf(stipend.EINVALID, "GitHub returned no login")
	}
	return user.GetLogin(), nil
}

// LinkKey derives, from the OAuth app's client secret, the key that signs the codes of the
// link flow. Every server of one deployment shares the secret, so they agree on the key
// without another setting, and the key changes when the secret is rotated.
func LinkKey(clientSecret string) []byte {
	h := hmac.New(sha256.New, []byte(clientSecret))
	h.Write([]byte("stipend github link key"))
	return h.Sum(nil)
}
