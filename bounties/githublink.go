package bounties

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/payments/ledger"
)

// GitHubAuth learns, through GitHub's OAuth web flow, which login a person holds.
type GitHubAuth interface {
	// AuthorizeURL is the GitHub page that asks the person to authorise Stipend and then
	// sends them back with a code and state.
	AuthorizeURL(state string) string
	// Login exchanges the code GitHub sent back for the login of whoever authorised.
	// Returns EINVALID (a code GitHub refused) and EUNAVAILABLE.
	Login(ctx context.Context, code string) (string, error)
}

// LinkStart is where a person goes to prove a GitHub login.
type LinkStart struct {
	AuthorizeURL string
	ExpiresAt    time.Time
}

// LinkProof is what GitHub's callback learned: a login, and a confirmation code that binds it
// to the account that started the link, to be given back by that account.
type LinkProof struct {
	Login     string
	Code      string
	ExpiresAt time.Time
}

// linkTTL bounds both halves of a link: the trip to GitHub and the confirmation after it.
const linkTTL = 15 * time.Minute

// Token kinds, so that a state can never be presented as a confirmation or the reverse.
const (
	tokenState   = "s"
	tokenConfirm = "c"
)

// StartGitHubLink begins linking a GitHub login to the caller's own account.
//
// Linking takes three steps, because GitHub's callback arrives in a browser without the
// caller's API key: (1) this call returns GitHub's authorisation page, with a signed state
// naming the account; (2) GitHub sends the browser to FinishGitHubLink, which learns the
// login and shows a confirmation code; (3) the account's owner gives the code to
// ConfirmGitHubLink. The last step is what stops someone from sending a victim to their own
// authorisation link and so collecting the victim's pending rewards: only the person who saw
// the code in their browser can hand it to an account.
//
// Returns EUNAVAILABLE (GitHub sign-in is not configured) and EFORBIDDEN (a key without
// keys:write, or an account that is not a person's).
func (s *Service) StartGitHubLink(_ context.Context, actor *accounts.Principal) (*LinkStart, error) {
	if s.opts.GitHub == nil || len(s.opts.LinkKey) == 0 {
		return nil, stipend.Errorf(stipend.EUNAVAILABLE, "GitHub sign-in is not configured on this server; an operator can link a login with `stipend admin github link`")
	}
	if err := linkAllowed(actor); err != nil {
		return nil, err
	}
	nonce := make([]byte, 12)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	expires := s.now().Add(linkTTL)
	state := s.sign(tokenState, expires, actor.Account.ID, base64.RawURLEncoding.EncodeToString(nonce))
	return &LinkStart{AuthorizeURL: s.opts.GitHub.AuthorizeURL(state), ExpiresAt: expires}, nil
}

// FinishGitHubLink handles GitHub's callback: it checks the state, asks GitHub whose code it
// is and returns a confirmation code for the account that started the link. It links
// nothing by itself.
//
// Returns EINVALID (a state that is forged, expired or missing, or a code GitHub refused) and
// EUNAVAILABLE.
func (s *Service) FinishGitHubLink(ctx context.Context, state, code string) (*LinkProof, error) {
	if s.opts.GitHub == nil || len(s.opts.LinkKey) == 0 {
		return nil, stipend.Errorf(stipend.EUNAVAILABLE, "GitHub sign-in is not configured on this server")
	}
	fields, err := s.verify(tokenState, state, 2)
	if err != nil {
		return nil, err
	}
	if code == "" || len(code) > 512 {
		return nil, stipend.Errorf(stipend.EINVALID, "GitHub sent no code back; start the link again")
	}
	login, err := s.opts.GitHub.Login(ctx, code)
	if err != nil {
		return nil, err
	}
	if !ValidLogin(login) {
		return nil, stipend.Errorf(stipend.EINVALID, "GitHub returned %q, which is not a login", login)
	}
	expires := s.now().Add(linkTTL)
	return &LinkProof{Login: login, Code: s.sign(tokenConfirm, expires, fields[0], login), ExpiresAt: expires}, nil
}

// ConfirmGitHubLink links the login a confirmation code proves to the caller's account, which
// must be the one that started the link, and moves the login's pending rewards into it.
// Confirming the same code again changes nothing.
//
// Returns EINVALID (a code that is forged or expired), EFORBIDDEN (a code made for another
// account, or a key without keys:write) and ECONFLICT (the login belongs to another account).
func (s *Service) ConfirmGitHubLink(ctx context.Context, actor *accounts.Principal, code string) (string, []ledger.Amount, error) {
	if err := linkAllowed(actor); err != nil {
		return "", nil, err
	}
	if len(s.opts.LinkKey) == 0 {
		return "", nil, stipend.Errorf(stipend.EUNAVAILABLE, "GitHub sign-in is not configured on this server")
	}
	fields, err := s.verify(tokenConfirm, code, 2)
	if err != nil {
		return "", nil, err
	}
	if fields[0] != actor.Account.ID {
		return "", nil, stipend.Errorf(stipend.EFORBIDDEN, "this code was made for another account")
	}
	moved, err := s.linkGitHub(ctx, actor.Account.ID, fields[1], "github")
	if err != nil {
		return "", nil, err
	}
	return fields[1], moved, nil
}

// linkAllowed says whether the caller may link a login to its own account: a GitHub identity
// is a credential, so it takes the scope that manages keys, and it is a person's, so neither an
// organisation nor an operator holds one.
func linkAllowed(actor *accounts.Principal) error {
	if err := accounts.Require(actor, accounts.ScopeKeys); err != nil {
		return err
	}
	if actor.IsAdmin() || actor.Account.Kind != accounts.KindUser {
		return stipend.Errorf(stipend.EFORBIDDEN, "only a person's own account holds a GitHub login")
	}
	return nil
}

// sign makes a token "kind.expiry.field….mac" in URL-safe base64, whose MAC covers all that
// precedes it.
func (s *Service) sign(kind string, expires time.Time, fields ...string) string {
	parts := []string{kind, strconv.FormatInt(expires.Unix(), 10)}
	for _, f := range fields {
		parts = append(parts, base64.RawURLEncoding.EncodeToString([]byte(f)))
	}
	body := strings.Join(parts, ".")
	return body + "." + base64.RawURLEncoding.EncodeToString(s.mac(body))
}

// verify checks a token of the kind with n fields and returns the fields.
func (s *Service) verify(kind, token string, n int) ([]string, error) {
	bad := stipend.Errorf(stipend.EINVALID, "the link code is not valid; start the link again")
	if len(token) > 1024 {
		return nil, bad
	}
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return nil, bad
	}
	mac, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil || !hmac.Equal(mac, s.mac(token[:i])) {
		return nil, bad
	}
	parts := strings.Split(token[:i], ".")
	if len(parts) != n+2 || parts[0] != kind {
		return nil, bad
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return nil, bad
	}
	if !s.now().Before(time.Unix(exp, 0)) {
		return nil, stipend.Errorf(stipend.EINVALID, "the link code has expired; start the link again")
	}
	fields := make([]string, n)
	for j := range fields {
		b, err := base64.RawURLEncoding.DecodeString(parts[j+2])
		if err != nil {
			return nil, bad
		}
		fields[j] = string(b)
	}
	return fields, nil
}

func (s *Service) mac(body string) []byte {
	h := hmac.New(sha256.New, s.opts.LinkKey)
	h.Write([]byte("stipend github link\x00" + body))
	return h.Sum(nil)
}
