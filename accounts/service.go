package accounts

import (
	"context"
	"slices"
	"strings"

	"time"

	"github.com/stipend/stipend"
)

// Service applies the rules of who may do what to accounts and keys.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns a Service over store. now is the clock; nil means time.Now.
func NewService(store Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	// Times are stored to the microsecond; truncating here makes a response agree with
	// every later read.
	return &Service{store: store, now: func() time.Time { return now().UTC().Truncate(time.Microsecond) }}
}

// Access is what a caller wants to do with an account.
type Access int

const (
	// Read is seeing an account, its balances and its transactions: the account itself, the
	// members and owners of an organisation, and admins.
	Read Access = iota
	// Manage is changing an account's keys and members: the account itself, the owners of an
	// organisation, and admins (who onboard people).
	Manage
	// Spend is moving money out of an account: the account itself and the owners of an
	// organisation only. Operators move money by their own recorded operations (admin credits,
	// reversals), never by acting as someone else.
	Spend
)

// Authorize returns nil when actor may have the given access to account id.
//
// Returns EFORBIDDEN, and ENOTFOUND only to admins (for anyone else, an account that does not
// exist and one they may not see look the same).
func (s *Service) Authorize(ctx context.Context, actor *Principal, id string, access Access) error {
	if actor.Account.ID == id {
		return nil
	}
	if actor.IsAdmin() && access != Spend {
		_, err := s.store.Account(ctx, id)
		return err
	}
	// Role is "" both for an account the actor has no part in and for one that does not exist.
	role, err := s.store.Role(ctx, id, actor.Account.ID)
	if err != nil {
		return err
	}
	if role == RoleOwner || (role == RoleMember && access == Read) {
		return nil
	}
	return stipend.Errorf(stipend.EFORBIDDEN, "you have no access to account %s", clip(id))
}

// Require returns EFORBIDDEN unless the actor's key carries scope.
func Require(actor *Principal, scope string) error {
	if !actor.Allows(scope) {
		return stipend.Errorf(stipend.EFORBIDDEN, "this API key lacks the %q scope", scope)
	}
	return nil
}

// CreateAccount creates a user or organisation. Only admins create accounts.
//
// Returns EFORBIDDEN, EINVALID, ECONFLICT (handle taken) and ENOTFOUND (an owner).
func (s *Service) CreateAccount(ctx context.Context, actor *Principal, n NewAccount) (*Account, error) {
	if err := Require(actor, ScopeAdmin); err != nil {
		return nil, err
	}
	if err := n.Normalize(); err != nil {
		return nil, err
	}
	a := &Account{
		ID:        stipend.NewID("acct"),
		Kind:      n.Kind,
		Handle:    n.Handle,
		Name:      n.Name,
		Email:     n.Email,
		Owners:    n.Owners,
		CreatedAt: s.now().UTC(),
	}
	if err := s.store.CreateAccount(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

// Account returns an account the actor may read. Returns ENOTFOUND and EFORBIDDEN.
func (s *Service) Account(ctx context.Context, actor *Principal, id string) (*Account, error) {
	if err := s.Authorize(ctx, actor, id, Read); err != nil {
		return nil, err
	}
	return s.store.Account(ctx, id)
}

// Resolve finds an account by id or handle, for naming the other party of a transfer. A
// handle is matched exactly after lower-casing its ASCII letters: a look-alike such as the
// Kelvin sign for "K" names no account, never the one it imitates.
// Returns ENOTFOUND.
func (s *Service) Resolve(ctx context.Context, idOrHandle string) (*Account, error) {
	if strings.HasPrefix(idOrHandle, "acct_") {
		return s.store.Account(ctx, idOrHandle)
	}
	h := asciiLower(idOrHandle)
	if ValidateHandle(h) != nil {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no account %q", clip(idOrHandle))
	}
	return s.store.AccountByHandle(ctx, h)
}

// CreateKey creates an API key for the actor's account or one the actor may change, and
// returns it with its secret, which is never shown again. A key can only be given scopes its
// creator has; only admins grant admin. With no scopes named, the key gets the default scopes
// that the creator has.
//
// Returns EFORBIDDEN, EINVALID and ENOTFOUND.
func (s *Service) CreateKey(ctx context.Context, actor *Principal, n NewKey) (*Key, string, error) {
	if err := Require(actor, ScopeKeys); err != nil {
		return nil, "", err
	}
	if n.AccountID == "" {
		n.AccountID = actor.Account.ID
	}
	if err := stipend.CheckText("name", n.Name, 100, false); err != nil {
		return nil, "", err
	}
	if err := CheckScopes(n.Scopes); err != nil {
		return nil, "", err
	}
	now := s.now().UTC()
	if n.ExpiresAt != nil && !n.ExpiresAt.After(now) {
		return nil, "", stipend.Errorf(stipend.EINVALID, "expires_at: must be in the future")
	}
	// A key never outlives the key that made it, so that a short-lived key cannot mint a
	// lasting one.
	if limit := actor.Key.ExpiresAt; limit != nil {
		if n.ExpiresAt == nil {
			n.ExpiresAt = limit
		} else if n.ExpiresAt.After(*limit) {
			return nil, "", stipend.Errorf(stipend.EINVALID, "expires_at: cannot be later than the expiry of the key that creates it (%s)", limit.Format(time.RFC3339))
		}
	}
	if err := s.Authorize(ctx, actor, n.AccountID, Manage); err != nil {
		return nil, "", err
	}
	scopes := slices.Clone(n.Scopes)
	if len(scopes) == 0 {
		for _, sc := range DefaultScopes() {
			if actor.Allows(sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	for _, sc := range scopes {
		if !canGrant(actor, sc) {
			return nil, "", stipend.Errorf(stipend.EFORBIDDEN, "scopes: you cannot grant %q, which your key lacks", sc)
		}
	}
	secret, hash := NewSecret()
	k := &Key{
		ID:        stipend.NewID("key"),
		AccountID: n.AccountID,
		Name:      n.Name,
		Hint:      SecretHint(secret),
		Scopes:    scopes,
		CreatedBy: actor.Key.ID,
		CreatedAt: now,
		ExpiresAt: n.ExpiresAt,
	}
	if err := s.store.CreateKey(ctx, k, hash); err != nil {
		return nil, "", err
	}
	return k, secret, nil
}

// canGrant reports whether the actor's key may give a new key scope: one it carries itself,
// or a CI token's ci:report (for all bounties or one), which reporting results for one's own
// bounties makes a part of managing them.
func canGrant(actor *Principal, scope string) bool {
	if actor.Allows(scope) {
		return true
	}
	if scope == ScopeCIReport || strings.HasPrefix(scope, ScopeCIReport+":") {
		return actor.Allows(ScopeBounties) || actor.Key.AllowsFor(ScopeCIReport, strings.TrimPrefix(scope, ScopeCIReport+":"))
	}
	return false
}

// Keys lists the keys of an account the actor may change. Returns EFORBIDDEN and ENOTFOUND.
func (s *Service) Keys(ctx context.Context, actor *Principal, accountID string) ([]Key, error) {
	if accountID == "" {
		accountID = actor.Account.ID
	}
	if err := s.Authorize(ctx, actor, accountID, Manage); err != nil {
		return nil, err
	}
	return s.store.Keys(ctx, accountID)
}

// RevokeKey revokes a key of an account the actor may change, and with it every key that it
// made for the same account. Revoking twice is harmless.
//
// Returns EFORBIDDEN and ENOTFOUND.
func (s *Service) RevokeKey(ctx context.Context, actor *Principal, id string) (*Key, error) {
	if err := Require(actor, ScopeKeys); err != nil {
		return nil, err
	}
	k, err := s.store.Key(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.Authorize(ctx, actor, k.AccountID, Manage); err != nil {
		// A key of someone else's account is reported as missing, so ids cannot be probed.
		if stipend.ErrorCode(err) == stipend.EFORBIDDEN {
			return nil, stipend.Errorf(stipend.ENOTFOUND, "no API key %s", id)
		}
		return nil, err
	}
	return s.store.RevokeKey(ctx, id, s.now().UTC())
}

// touchEvery limits how often a key's last use is written, so that reads stay reads.
const touchEvery = time.Minute

// Authenticate returns the caller a secret belongs to.
//
// Returns EUNAUTHORIZED for a malformed, unknown, revoked or expired key.
func (s *Service) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if !wellFormedSecret(secret) {
		return nil, stipend.Errorf(stipend.EUNAUTHORIZED, "the API key is malformed")
	}
	p, err := s.store.KeyBySecretHash(ctx, HashSecret(secret))
	if stipend.ErrorCode(err) == stipend.ENOTFOUND {
		return nil, stipend.Errorf(stipend.EUNAUTHORIZED, "the API key is not valid")
	}
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if !p.Key.Usable(now) {
		return nil, stipend.Errorf(stipend.EUNAUTHORIZED, "the API key is revoked or expired")
	}
	if p.Key.LastUsedAt == nil || now.Sub(*p.Key.LastUsedAt) > touchEvery {
		if err := s.store.TouchKey(ctx, p.Key.ID, now); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// OperatorHandle is the handle of the account that the first admin key belongs to.
const OperatorHandle = "operator"

// Bootstrap creates the operator account and the first admin key on the first start of an
// installation, and returns the key's secret. On every later start it returns "" and false.
func (s *Service) Bootstrap(ctx context.Context) (string, bool, error) {
	now := s.now().UTC()
	a := &Account{ID: stipend.NewID("acct"), Kind: KindUser, Handle: OperatorHandle, Name: "Operator", CreatedAt: now}
	secret, hash := NewSecret()
	k := &Key{ID: stipend.NewID("key"), AccountID: a.ID, Name: "bootstrap admin key", Hint: SecretHint(secret),
		Scopes: []string{ScopeAdmin}, CreatedAt: now}
	created, err := s.store.Bootstrap(ctx, a, k, hash)
	if err != nil || !created {
		return "", false, err
	}
	return secret, true, nil
}

// CreateAdminKey makes a new admin key for the operator account, for an operator at the
// server's console who has lost the first one. Returns ENOTFOUND before Bootstrap.
func (s *Service) CreateAdminKey(ctx context.Context, name string) (*Key, string, error) {
	op, err := s.store.AccountByHandle(ctx, OperatorHandle)
	if err != nil {
		return nil, "", err
	}
	if err := stipend.CheckText("name", name, 100, false); err != nil {
		return nil, "", err
	}
	secret, hash := NewSecret()
	k := &Key{ID: stipend.NewID("key"), AccountID: op.ID, Name: name, Hint: SecretHint(secret),
		Scopes: []string{ScopeAdmin}, CreatedAt: s.now().UTC()}
	if err := s.store.CreateKey(ctx, k, hash); err != nil {
		return nil, "", err
	}
	return k, secret, nil
}

// SetMember makes a user a member or an owner of an organisation, or changes their role.
//
// Returns EFORBIDDEN, EINVALID (not an organisation, not a user, unknown role) and ENOTFOUND.
func (s *Service) SetMember(ctx context.Context, actor *Principal, orgID, member, role string) (*Account, error) {
	if err := Require(actor, ScopeKeys); err != nil {
		return nil, err
	}
	if role != RoleOwner && role != RoleMember {
		return nil, stipend.Errorf(stipend.EINVALID, "role: must be %q or %q", RoleOwner, RoleMember)
	}
	if err := s.Authorize(ctx, actor, orgID, Manage); err != nil {
		return nil, err
	}
	org, err := s.store.Account(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if org.Kind != KindOrg {
		return nil, stipend.Errorf(stipend.EINVALID, "account %s is not an organisation", orgID)
	}
	m, err := s.Resolve(ctx, member)
	if err != nil {
		return nil, err
	}
	if m.Kind != KindUser {
		return nil, stipend.Errorf(stipend.EINVALID, "only users can be members of an organisation")
	}
	if err := s.store.SetMember(ctx, orgID, m.ID, role, s.now()); err != nil {
		return nil, err
	}
	return s.store.Account(ctx, orgID)
}

// RemoveMember takes a user out of an organisation. Removing someone who is not a member
// changes nothing.
//
// Returns EFORBIDDEN and ENOTFOUND.
func (s *Service) RemoveMember(ctx context.Context, actor *Principal, orgID, member string) (*Account, error) {
	if err := Require(actor, ScopeKeys); err != nil {
		return nil, err
	}
	if err := s.Authorize(ctx, actor, orgID, Manage); err != nil {
		return nil, err
	}
	m, err := s.Resolve(ctx, member)
	if err != nil {
		return nil, err
	}
	if err := s.store.RemoveMember(ctx, orgID, m.ID); err != nil {
		return nil, err
	}
	return s.store.Account(ctx, orgID)
}

// ByPayment returns a principal for account id that carries only scope, for a request that
// proves its right to act for the account by a credential other than an API key: an L402
// token minted for that account, when the account asked for it with a key of that scope.
// Returns ENOTFOUND.
func (s *Service) ByPayment(ctx context.Context, id, scope string) (*Principal, error) {
	a, err := s.store.Account(ctx, id)
	if err != nil {
		return nil, err
	}
	return &Principal{Account: *a, Key: Key{ID: "l402", AccountID: a.ID, Name: "L402 token", Scopes: []string{scope}}}, nil
}
