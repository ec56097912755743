package accounts_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
)

// fakeStore keeps accounts and keys in memory. It implements the contract of accounts.Store
// closely enough to test the rules of Service; the real stores are tested against real
// databases in internal/store.
type fakeStore struct {
	mu           sync.Mutex
	accounts     map[string]accounts.Account
	roles        map[[2]string]string // {org id, member id} → role
	keys         map[string]accounts.Key
	hashes       map[string]string // secret hash → key id
	lookups      int               // calls of KeyBySecretHash
	touches      []time.Time       // times passed to TouchKey
	lookupErr    error             // when set, KeyBySecretHash fails with it
	bootstrapped bool
}

var _ accounts.Store = (*fakeStore)(nil)

func newFakeStore() *fakeStore {
	return &fakeStore{
		accounts: map[string]accounts.Account{},
		roles:    map[[2]string]string{},
		keys:     map[string]accounts.Key{},
		hashes:   map[string]string{},
	}
}

func notFound(what, id string) error { return stipend.Errorf(stipend.ENOTFOUND, "no %s %s", what, id) }

func (s *fakeStore) CreateAccount(_ context.Context, a *accounts.Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createAccount(a)
}

func (s *fakeStore) createAccount(a *accounts.Account) error {
	for _, b := range s.accounts {
		if b.Handle == a.Handle {
			return stipend.Errorf(stipend.ECONFLICT, "handle %s is taken", a.Handle)
		}
	}
	for _, o := range a.Owners {
		if owner, ok := s.accounts[o]; !ok || owner.Kind != accounts.KindUser {
			return notFound("user", o)
		}
	}
	s.accounts[a.ID] = *a
	for _, o := range a.Owners {
		s.roles[[2]string{a.ID, o}] = accounts.RoleOwner
	}
	return nil
}

func (s *fakeStore) Account(_ context.Context, id string) (*accounts.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return nil, notFound("account", id)
	}
	return &a, nil
}

func (s *fakeStore) AccountByHandle(_ context.Context, handle string) (*accounts.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.accounts {
		if a.Handle == handle {
			return &a, nil
		}
	}
	return nil, notFound("account", handle)
}

func (s *fakeStore) Role(_ context.Context, orgID, memberID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.roles[[2]string{orgID, memberID}], nil
}

func (s *fakeStore) SetMember(_ context.Context, orgID, memberID, role string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.accounts[orgID]; !ok {
		return notFound("account", orgID)
	}
	if _, ok := s.accounts[memberID]; !ok {
		return notFound("account", memberID)
	}
	s.roles[[2]string{orgID, memberID}] = role
	return nil
}

func (s *fakeStore) RemoveMember(_ context.Context, orgID, memberID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.roles, [2]string{orgID, memberID})
	return nil
}

func (s *fakeStore) CreateKey(_ context.Context, k *accounts.Key, secretHash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[k.ID] = *k
	s.hashes[secretHash] = k.ID
	return nil
}

func (s *fakeStore) Key(_ context.Context, id string) (*accounts.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return nil, notFound("API key", id)
	}
	return &k, nil
}

func (s *fakeStore) Keys(_ context.Context, accountID string) ([]accounts.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []accounts.Key
	for _, k := range s.keys {
		if k.AccountID == accountID {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

func (s *fakeStore) RevokeKey(_ context.Context, id string, at time.Time) (*accounts.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return nil, notFound("API key", id)
	}
	if k.RevokedAt == nil {
		k.RevokedAt = &at
		s.keys[id] = k
	}
	return &k, nil
}

func (s *fakeStore) KeyBySecretHash(_ context.Context, hash string) (*accounts.Principal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups++
	if s.lookupErr != nil {
		return nil, s.lookupErr
	}
	id, ok := s.hashes[hash]
	if !ok {
		return nil, notFound("API key", "with that secret")
	}
	k := s.keys[id]
	return &accounts.Principal{Account: s.accounts[k.AccountID], Key: k}, nil
}

func (s *fakeStore) TouchKey(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[id]
	k.LastUsedAt = &at
	s.keys[id] = k
	s.touches = append(s.touches, at)
	return nil
}

func (s *fakeStore) Bootstrap(_ context.Context, a *accounts.Account, k *accounts.Key, secretHash string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bootstrapped {
		return false, nil
	}
	if err := s.createAccount(a); err != nil {
		return false, err
	}
	s.keys[k.ID] = *k
	s.hashes[secretHash] = k.ID
	s.bootstrapped = true
	return true, nil
}

func (s *fakeStore) keyCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

func (s *fakeStore) lookupCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups
}

func (s *fakeStore) touchTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.touches)
}

// clock is the fixed time the service runs at. It has nanoseconds and a zone other than UTC,
// so that the service's truncation to microseconds in UTC is seen.
var clock = time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("UTC+1", 3600))

// now is the time the service records: clock in UTC, to the microsecond.
var now = time.Date(2030, 1, 2, 2, 4, 5, 123456000, time.UTC)

// world is a service over a fake store holding three users and an organisation: alice owns
// acme, bob is a member of it, carol has nothing to do with it, and op is the operator.
type world struct {
	store                        *fakeStore
	svc                          *accounts.Service
	alice, bob, carol, acme, ops accounts.Account
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{store: newFakeStore()}
	w.svc = accounts.NewService(w.store, func() time.Time { return clock })
	add := func(kind, handle string) accounts.Account {
		t.Helper()
		a := accounts.Account{ID: stipend.NewID("acct"), Kind: kind, Handle: handle, Name: handle, CreatedAt: now}
		if err := w.store.CreateAccount(context.Background(), &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	w.alice, w.bob, w.carol, w.ops = add(accounts.KindUser, "alice"), add(accounts.KindUser, "bob"), add(accounts.KindUser, "carol"), add(accounts.KindUser, "operator")
	w.acme = add(accounts.KindOrg, "acme")
	w.store.roles[[2]string{w.acme.ID, w.alice.ID}] = accounts.RoleOwner
	w.store.roles[[2]string{w.acme.ID, w.bob.ID}] = accounts.RoleMember
	return w
}

// as returns a principal acting for a with a key carrying scopes. The key is not stored:
// the service trusts a principal that authentication has already made.
func as(a accounts.Account, scopes ...string) *accounts.Principal {
	return &accounts.Principal{Account: a, Key: accounts.Key{ID: "key_of_" + a.Handle, AccountID: a.ID, Scopes: scopes}}
}

// issue stores a key for account a, changed by change if not nil, and returns its secret.
func (w *world) issue(t *testing.T, a accounts.Account, change func(k *accounts.Key), scopes ...string) (string, accounts.Key) {
	t.Helper()
	secret, hash := accounts.NewSecret()
	k := accounts.Key{ID: stipend.NewID("key"), AccountID: a.ID, Name: "test", Hint: accounts.SecretHint(secret), Scopes: scopes, CreatedAt: now.Add(-time.Hour)}
	if change != nil {
		change(&k)
	}
	if err := w.store.CreateKey(context.Background(), &k, hash); err != nil {
		t.Fatal(err)
	}
	return secret, k
}

// allScopesButAdmin returns every known scope except admin.
func allScopesButAdmin() []string {
	return slices.DeleteFunc(slices.Clone(accounts.KnownScopes()), func(s string) bool { return s == accounts.ScopeAdmin })
}

func TestAuthorize(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	admin := as(w.ops, accounts.ScopeAdmin)
	tests := []struct {
		name     string
		actor    *accounts.Principal
		id       string
		access   accounts.Access
		wantCode string
	}{
		{"own account, read", as(w.alice, accounts.ScopeRead), w.alice.ID, accounts.Read, ""},
		{"own account, manage", as(w.alice, accounts.ScopeRead), w.alice.ID, accounts.Manage, ""},
		{"own account, spend", as(w.alice, accounts.ScopeRead), w.alice.ID, accounts.Spend, ""},
		{"another user, read", as(w.alice, accounts.DefaultScopes()...), w.bob.ID, accounts.Read, stipend.EFORBIDDEN},
		{"another user, manage", as(w.alice, accounts.DefaultScopes()...), w.bob.ID, accounts.Manage, stipend.EFORBIDDEN},
		{"another user, spend", as(w.alice, accounts.DefaultScopes()...), w.bob.ID, accounts.Spend, stipend.EFORBIDDEN},
		{"owner of an org, read", as(w.alice), w.acme.ID, accounts.Read, ""},
		{"owner of an org, manage", as(w.alice), w.acme.ID, accounts.Manage, ""},
		{"owner of an org, spend", as(w.alice), w.acme.ID, accounts.Spend, ""},
		{"member of an org, read", as(w.bob), w.acme.ID, accounts.Read, ""},
		{"member of an org, manage", as(w.bob), w.acme.ID, accounts.Manage, stipend.EFORBIDDEN},
		{"member of an org, spend", as(w.bob), w.acme.ID, accounts.Spend, stipend.EFORBIDDEN},
		{"outsider of an org, read", as(w.carol), w.acme.ID, accounts.Read, stipend.EFORBIDDEN},
		{"outsider of an org, spend", as(w.carol), w.acme.ID, accounts.Spend, stipend.EFORBIDDEN},
		// Ownership of an organisation gives no right over its owners' own accounts.
		{"org acting on its owner", as(w.acme, accounts.DefaultScopes()...), w.alice.ID, accounts.Manage, stipend.EFORBIDDEN},
		{"admin, another user, read", admin, w.bob.ID, accounts.Read, ""},
		{"admin, another user, manage", admin, w.bob.ID, accounts.Manage, ""},
		{"admin, an org, manage", admin, w.acme.ID, accounts.Manage, ""},
		// Operators move money by their own recorded operations, never as someone else.
		{"admin, another user, spend", admin, w.bob.ID, accounts.Spend, stipend.EFORBIDDEN},
		{"admin, an org, spend", admin, w.acme.ID, accounts.Spend, stipend.EFORBIDDEN},
		// A missing account and a foreign one look alike to everyone but admins.
		{"missing account", as(w.alice, accounts.DefaultScopes()...), "acct_missing", accounts.Read, stipend.EFORBIDDEN},
		{"missing account, admin", admin, "acct_missing", accounts.Manage, stipend.ENOTFOUND},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantCode(t, w.svc.Authorize(context.Background(), tc.actor, tc.id, tc.access), tc.wantCode)
		})
	}
}

func TestRequire(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	wantCode(t, accounts.Require(as(w.alice, accounts.ScopeRead), accounts.ScopeRead), "")
	wantCode(t, accounts.Require(as(w.alice, accounts.ScopeRead), accounts.ScopeTransfers), stipend.EFORBIDDEN)
	wantCode(t, accounts.Require(as(w.alice, accounts.ScopeAdmin), accounts.ScopeTransfers), "")
}

func TestAccountReturnsOnlyAccountsTheActorMayRead(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	a, err := w.svc.Account(ctx, as(w.bob), w.acme.ID)
	wantCode(t, err, "")
	if a.ID != w.acme.ID {
		t.Fatalf("Account returned %s, want %s", a.ID, w.acme.ID)
	}
	a, err = w.svc.Account(ctx, as(w.carol), w.acme.ID)
	wantCode(t, err, stipend.EFORBIDDEN)
	if a != nil {
		t.Fatal("Account returned an account with EFORBIDDEN")
	}
}

func TestCreateAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("admin creates a normalised account", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		a, err := w.svc.CreateAccount(ctx, as(w.ops, accounts.ScopeAdmin), accounts.NewAccount{
			Kind: accounts.KindUser, Handle: "Dave", Name: "Dave", Email: " dave@example.com ",
		})
		wantCode(t, err, "")
		if !strings.HasPrefix(a.ID, "acct_") || a.Handle != "dave" || a.Email != "dave@example.com" || !a.CreatedAt.Equal(now) {
			t.Fatalf("created %#v", a)
		}
		if got, err := w.store.AccountByHandle(ctx, "dave"); err != nil || got.ID != a.ID {
			t.Fatalf("the account was not stored: %v", err)
		}
	})
	t.Run("non-admin is forbidden", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		_, err := w.svc.CreateAccount(ctx, as(w.alice, allScopesButAdmin()...), accounts.NewAccount{
			Kind: accounts.KindUser, Handle: "dave", Name: "Dave",
		})
		wantCode(t, err, stipend.EFORBIDDEN)
		if _, err := w.store.AccountByHandle(ctx, "dave"); stipend.ErrorCode(err) != stipend.ENOTFOUND {
			t.Fatal("a forbidden account was stored")
		}
	})
	t.Run("invalid account is refused", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		_, err := w.svc.CreateAccount(ctx, as(w.ops, accounts.ScopeAdmin), accounts.NewAccount{
			Kind: accounts.KindUser, Handle: "d\u0430ve", Name: "Dave",
		})
		wantCode(t, err, stipend.EINVALID)
	})
	t.Run("taken handle conflicts", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		// The handle differs from alice's only in case, which Normalize removes.
		_, err := w.svc.CreateAccount(ctx, as(w.ops, accounts.ScopeAdmin), accounts.NewAccount{
			Kind: accounts.KindUser, Handle: "ALICE", Name: "Another Alice",
		})
		wantCode(t, err, stipend.ECONFLICT)
	})
}

func TestResolveFindsAnAccountByIDOrHandle(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	for _, s := range []string{w.bob.ID, "bob"} {
		a, err := w.svc.Resolve(ctx, s)
		wantCode(t, err, "")
		if a.ID != w.bob.ID {
			t.Fatalf("Resolve(%q) = %s, want %s", s, a.ID, w.bob.ID)
		}
	}
	_, err := w.svc.Resolve(ctx, "nobody")
	wantCode(t, err, stipend.ENOTFOUND)
}

func TestCreateKeyGrantsOnlyScopesTheCreatorHas(t *testing.T) {
	t.Parallel()
	allButAdmin := allScopesButAdmin()
	tests := []struct {
		name       string
		actor      []string // the scopes of the creating key
		scopes     []string // the scopes asked for
		wantCode   string
		wantScopes []string
	}{
		{"defaults", accounts.DefaultScopes(), nil, "", accounts.DefaultScopes()},
		{"defaults with an empty list", accounts.DefaultScopes(), []string{}, "", accounts.DefaultScopes()},
		// With none named, a key gets the defaults its creator has, and no more.
		{"defaults narrowed to the creator's", []string{accounts.ScopeKeys, accounts.ScopeRead}, nil, "", []string{accounts.ScopeRead, accounts.ScopeKeys}},
		// An admin's key made without naming scopes is not an admin key.
		{"defaults from an admin", []string{accounts.ScopeAdmin}, nil, "", accounts.DefaultScopes()},
		{"a subset", accounts.DefaultScopes(), []string{accounts.ScopeRead}, "", []string{accounts.ScopeRead}},
		{"every scope it has", allButAdmin, allButAdmin, "", allButAdmin},
		{"admin from an admin", []string{accounts.ScopeAdmin}, []string{accounts.ScopeAdmin}, "", []string{accounts.ScopeAdmin}},
		{"ci:report from an admin", []string{accounts.ScopeAdmin}, []string{accounts.ScopeCIReport}, "", []string{accounts.ScopeCIReport}},

		{"without keys:write", []string{accounts.ScopeRead, accounts.ScopeTransfers}, []string{accounts.ScopeRead}, stipend.EFORBIDDEN, nil},
		{"a scope the creator lacks", []string{accounts.ScopeKeys}, []string{accounts.ScopeTransfers}, stipend.EFORBIDDEN, nil},
		{"one scope the creator lacks among others", []string{accounts.ScopeRead, accounts.ScopeKeys}, []string{accounts.ScopeRead, accounts.ScopeTransfers}, stipend.EFORBIDDEN, nil},
		// A sponsor makes CI tokens for their own bounties without holding ci:report themselves.
		{"ci:report from a sponsor", accounts.DefaultScopes(), []string{accounts.ScopeRead, accounts.ScopeCIReport}, "", []string{accounts.ScopeRead, accounts.ScopeCIReport}},
		{"ci:report for one bounty from a sponsor", accounts.DefaultScopes(), []string{accounts.ScopeCIReport + ":bty_0123456789abcdef0123456789abcdef"}, "", []string{accounts.ScopeCIReport + ":bty_0123456789abcdef0123456789abcdef"}},
		{"ci:report without bounties:write", []string{accounts.ScopeRead, accounts.ScopeKeys}, []string{accounts.ScopeCIReport}, stipend.EFORBIDDEN, nil},
		{"ci:report for all from a one-bounty token", []string{accounts.ScopeKeys, accounts.ScopeCIReport + ":bty_0123456789abcdef0123456789abcdef"}, []string{accounts.ScopeCIReport}, stipend.EFORBIDDEN, nil},
		{"ci:report for its own bounty from a one-bounty token", []string{accounts.ScopeKeys, accounts.ScopeCIReport + ":bty_0123456789abcdef0123456789abcdef"}, []string{accounts.ScopeCIReport + ":bty_0123456789abcdef0123456789abcdef"}, "", []string{accounts.ScopeCIReport + ":bty_0123456789abcdef0123456789abcdef"}},
		{"admin from a key with every other scope", allButAdmin, []string{accounts.ScopeAdmin}, stipend.EFORBIDDEN, nil},
		{"unknown scope", accounts.DefaultScopes(), []string{"account:write"}, stipend.EINVALID, nil},
		{"unknown scope from an admin", []string{accounts.ScopeAdmin}, []string{"superuser"}, stipend.EINVALID, nil},
		{"repeated scope", accounts.DefaultScopes(), []string{accounts.ScopeRead, accounts.ScopeRead}, stipend.EINVALID, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			before := w.store.keyCount()
			k, secret, err := w.svc.CreateKey(context.Background(), as(w.alice, tc.actor...), accounts.NewKey{Name: "ci", Scopes: tc.scopes})
			wantCode(t, err, tc.wantCode)
			if err != nil {
				if k != nil || secret != "" || w.store.keyCount() != before {
					t.Fatal("a refused key was returned or stored")
				}
				return
			}
			if !slices.Equal(k.Scopes, tc.wantScopes) {
				t.Fatalf("key scopes = %v, want %v", k.Scopes, tc.wantScopes)
			}
			stored, err := w.store.Key(context.Background(), k.ID)
			wantCode(t, err, "")
			if !slices.Equal(stored.Scopes, tc.wantScopes) {
				t.Fatalf("stored scopes = %v, want %v", stored.Scopes, tc.wantScopes)
			}
		})
	}
}

func TestCreateKeyDoesNotChangeTheDefaultScopes(t *testing.T) {
	t.Parallel()
	// DefaultScopes() is a package variable: handing it out and then appending or writing to
	// a key's scopes must not change what later keys get.
	want := slices.Clone(accounts.DefaultScopes())
	w := newWorld(t)
	k, _, err := w.svc.CreateKey(context.Background(), as(w.alice, accounts.ScopeAdmin), accounts.NewKey{Name: "a"})
	wantCode(t, err, "")
	k.Scopes[0] = "changed"
	if !slices.Equal(accounts.DefaultScopes(), want) {
		t.Fatalf("DefaultScopes() changed to %v", accounts.DefaultScopes())
	}
}

func TestCreateKeyRecordsTheKeyAndReturnsItsSecretOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	actor := as(w.alice, accounts.DefaultScopes()...)
	k, secret, err := w.svc.CreateKey(ctx, actor, accounts.NewKey{Name: "laptop"})
	wantCode(t, err, "")
	if !secretPattern.MatchString(secret) {
		t.Fatalf("secret %q is malformed", secret)
	}
	if !strings.HasPrefix(k.ID, "key_") || k.AccountID != w.alice.ID || k.Name != "laptop" ||
		k.CreatedBy != actor.Key.ID || k.Hint != accounts.SecretHint(secret) || k.ExpiresAt != nil || k.RevokedAt != nil {
		t.Fatalf("created %#v", k)
	}
	// Stored times are microseconds in UTC, and the response must agree with later reads.
	if !k.CreatedAt.Equal(now) || k.CreatedAt.Location() != time.UTC || k.CreatedAt != now {
		t.Fatalf("CreatedAt = %v, want %v", k.CreatedAt, now)
	}
	// Only the hash is kept, and it is the hash of the secret returned.
	if id := w.store.hashes[accounts.HashSecret(secret)]; id != k.ID {
		t.Fatalf("no key is stored under the hash of the returned secret")
	}
	p, err := w.svc.Authenticate(ctx, secret)
	wantCode(t, err, "")
	if p.Key.ID != k.ID || p.Account.ID != w.alice.ID {
		t.Fatalf("the new secret authenticates as %s of %s", p.Key.ID, p.Account.ID)
	}
}

func TestCreateKeyChecksNameAndExpiry(t *testing.T) {
	t.Parallel()
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	tests := []struct {
		name     string
		key      accounts.NewKey
		wantCode string
	}{
		{"expires tomorrow", accounts.NewKey{Name: "k", ExpiresAt: at(24 * time.Hour)}, ""},
		{"expires in a microsecond", accounts.NewKey{Name: "k", ExpiresAt: at(time.Microsecond)}, ""},
		{"name of 100 characters", accounts.NewKey{Name: strings.Repeat("\u00e9", 100)}, ""},
		{"expired", accounts.NewKey{Name: "k", ExpiresAt: at(-time.Hour)}, stipend.EINVALID},
		{"expires now", accounts.NewKey{Name: "k", ExpiresAt: at(0)}, stipend.EINVALID},
		{"no name", accounts.NewKey{}, stipend.EINVALID},
		{"name of 101 characters", accounts.NewKey{Name: strings.Repeat("n", 101)}, stipend.EINVALID},
		{"name with a bidi override", accounts.NewKey{Name: "prod\u202e"}, stipend.EINVALID},
		{"name with a control character", accounts.NewKey{Name: "a\x1b"}, stipend.EINVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			k, _, err := w.svc.CreateKey(context.Background(), as(w.alice, accounts.DefaultScopes()...), tc.key)
			wantCode(t, err, tc.wantCode)
			if err != nil {
				return
			}
			if want := tc.key.ExpiresAt; (want == nil) != (k.ExpiresAt == nil) || (want != nil && !k.ExpiresAt.Equal(*want)) {
				t.Fatalf("ExpiresAt = %v, want %v", k.ExpiresAt, want)
			}
		})
	}
}

func TestCreateKeyForAnotherAccount(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tests := []struct {
		name     string
		actor    accounts.Account
		scopes   []string
		target   string
		wantCode string
	}{
		{"owner for an org", w.alice, accounts.DefaultScopes(), w.acme.ID, ""},
		{"admin for a user", w.ops, []string{accounts.ScopeAdmin}, w.bob.ID, ""},
		{"user for another user", w.alice, accounts.DefaultScopes(), w.bob.ID, stipend.EFORBIDDEN},
		{"member for an org", w.bob, accounts.DefaultScopes(), w.acme.ID, stipend.EFORBIDDEN},
		{"outsider for an org", w.carol, accounts.DefaultScopes(), w.acme.ID, stipend.EFORBIDDEN},
		{"user for a missing account", w.alice, accounts.DefaultScopes(), "acct_missing", stipend.EFORBIDDEN},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, _, err := w.svc.CreateKey(context.Background(), as(tc.actor, tc.scopes...), accounts.NewKey{AccountID: tc.target, Name: "k"})
			wantCode(t, err, tc.wantCode)
			if err == nil && k.AccountID != tc.target {
				t.Fatalf("key is for %s, want %s", k.AccountID, tc.target)
			}
		})
	}
}

func TestRevokeKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name     string
		actor    func(w *world) *accounts.Principal
		owner    func(w *world) accounts.Account // whose key is revoked
		wantCode string
	}{
		{"own key", func(w *world) *accounts.Principal { return as(w.alice, accounts.ScopeKeys) }, func(w *world) accounts.Account { return w.alice }, ""},
		{"owner revokes an org key", func(w *world) *accounts.Principal { return as(w.alice, accounts.ScopeKeys) }, func(w *world) accounts.Account { return w.acme }, ""},
		{"admin revokes a user's key", func(w *world) *accounts.Principal { return as(w.ops, accounts.ScopeAdmin) }, func(w *world) accounts.Account { return w.bob }, ""},
		// A key of someone else's account is reported missing, so that ids cannot be probed.
		{"another user's key", func(w *world) *accounts.Principal { return as(w.alice, accounts.ScopeKeys) }, func(w *world) accounts.Account { return w.bob }, stipend.ENOTFOUND},
		{"member revokes an org key", func(w *world) *accounts.Principal { return as(w.bob, accounts.ScopeKeys) }, func(w *world) accounts.Account { return w.acme }, stipend.ENOTFOUND},
		{"own key without keys:write", func(w *world) *accounts.Principal { return as(w.alice, accounts.ScopeRead) }, func(w *world) accounts.Account { return w.alice }, stipend.EFORBIDDEN},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			secret, key := w.issue(t, tc.owner(w), nil, accounts.ScopeRead)
			got, err := w.svc.RevokeKey(ctx, tc.actor(w), key.ID)
			wantCode(t, err, tc.wantCode)
			stored, _ := w.store.Key(ctx, key.ID)
			if err != nil {
				if got != nil || stored.RevokedAt != nil {
					t.Fatal("a refused revocation revoked the key")
				}
				return
			}
			if got.RevokedAt == nil || !got.RevokedAt.Equal(now) || stored.RevokedAt == nil {
				t.Fatalf("RevokedAt = %v, want %v", got.RevokedAt, now)
			}
			_, err = w.svc.Authenticate(ctx, secret)
			wantCode(t, err, stipend.EUNAUTHORIZED)
			// Revoking again is harmless.
			_, err = w.svc.RevokeKey(ctx, tc.actor(w), key.ID)
			wantCode(t, err, "")
		})
	}
}

func TestRevokeKeyOfAMissingKeyIsNotFound(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	_, err := w.svc.RevokeKey(context.Background(), as(w.ops, accounts.ScopeAdmin), "key_missing")
	wantCode(t, err, stipend.ENOTFOUND)
}

func TestKeysListsOnlyKeysOfAccountsTheActorMayChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t)
	_, aliceKey := w.issue(t, w.alice, nil, accounts.ScopeRead)
	_, acmeKey := w.issue(t, w.acme, nil, accounts.ScopeRead)
	w.issue(t, w.bob, nil, accounts.ScopeRead)

	keys, err := w.svc.Keys(ctx, as(w.alice, accounts.ScopeRead), "")
	wantCode(t, err, "")
	if len(keys) != 1 || keys[0].ID != aliceKey.ID {
		t.Fatalf("alice's own keys = %v, want only %s", keys, aliceKey.ID)
	}
	keys, err = w.svc.Keys(ctx, as(w.alice, accounts.ScopeRead), w.acme.ID)
	wantCode(t, err, "")
	if len(keys) != 1 || keys[0].ID != acmeKey.ID {
		t.Fatalf("acme's keys for its owner = %v, want only %s", keys, acmeKey.ID)
	}
	_, err = w.svc.Keys(ctx, as(w.alice, accounts.ScopeRead), w.bob.ID)
	wantCode(t, err, stipend.EFORBIDDEN)
	// A member may read an organisation but not its keys, which would let it act for it.
	_, err = w.svc.Keys(ctx, as(w.bob, accounts.ScopeRead), w.acme.ID)
	wantCode(t, err, stipend.EFORBIDDEN)
	keys, err = w.svc.Keys(ctx, as(w.ops, accounts.ScopeAdmin), w.bob.ID)
	wantCode(t, err, "")
	if len(keys) != 1 {
		t.Fatalf("an admin sees %d of bob's keys, want 1", len(keys))
	}
}

func TestAuthenticateAcceptsAUsableKey(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	secret, key := w.issue(t, w.alice, func(k *accounts.Key) { t := now.Add(time.Second); k.ExpiresAt = &t }, accounts.ScopeRead)
	p, err := w.svc.Authenticate(context.Background(), secret)
	wantCode(t, err, "")
	if p.Key.ID != key.ID || p.Account.ID != w.alice.ID || !p.Allows(accounts.ScopeRead) || p.Allows(accounts.ScopeKeys) {
		t.Fatalf("Authenticate = %+v", p)
	}
	if got := w.store.touchTimes(); len(got) != 1 || !got[0].Equal(now) {
		t.Fatalf("the key's last use was recorded at %v, want once at %v", got, now)
	}
}

func TestAuthenticateRecordsUseAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		lastUsed  time.Duration // before now
		wantTouch bool
	}{
		{"used 30 seconds ago", 30 * time.Second, false},
		{"used a minute ago", time.Minute, false},
		{"used two minutes ago", 2 * time.Minute, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			secret, _ := w.issue(t, w.alice, func(k *accounts.Key) { t := now.Add(-tc.lastUsed); k.LastUsedAt = &t })
			_, err := w.svc.Authenticate(context.Background(), secret)
			wantCode(t, err, "")
			if touched := len(w.store.touchTimes()) > 0; touched != tc.wantTouch {
				t.Fatalf("touched = %v, want %v", touched, tc.wantTouch)
			}
		})
	}
}

func TestAuthenticateRefusesMalformedSecretsWithoutAskingTheStore(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	secret, _ := w.issue(t, w.alice, nil, accounts.ScopeRead)
	body := secret[len("stp_"):]
	tests := map[string]string{
		"empty":                 "",
		"prefix only":           "stp_",
		"one character short":   secret[:len(secret)-1],
		"one character long":    secret + "a",
		"leading space":         " " + secret,
		"trailing space":        secret + " ",
		"trailing newline":      secret + "\n",
		"with the Bearer word":  "Bearer " + secret,
		"upper case":            strings.ToUpper(secret),
		"upper-case prefix":     "STP_" + body,
		"another prefix":        "sk_" + body + "a",
		"no prefix":             body + "abcd",
		"digit 0":               "stp_0" + body[1:],
		"digit 1":               "stp_1" + body[1:],
		"digit 8":               "stp_8" + body[1:],
		"base32 padding":        "stp_" + body[:51] + "=",
		"non-ASCII letter":      "stp_\u00e9" + body[2:],
		"Cyrillic homoglyph":    "stp_\u0430" + body[2:],
		"NUL":                   "stp_" + body[:51] + "\x00",
		"invalid UTF-8":         "stp_" + body[:51] + "\xff",
		"a hash instead of key": accounts.HashSecret(secret),
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := w.svc.Authenticate(context.Background(), s)
			wantCode(t, err, stipend.EUNAUTHORIZED)
			if p != nil {
				t.Fatal("Authenticate returned a principal with its error")
			}
		})
	}
	t.Cleanup(func() {
		if n := w.store.lookupCount(); n != 0 {
			t.Errorf("the store was asked %d times about malformed secrets", n)
		}
	})
}

func TestAuthenticateRefusesUnknownRevokedAndExpiredKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(k *accounts.Key)
	}{
		{"revoked", func(k *accounts.Key) { t := now.Add(-time.Hour); k.RevokedAt = &t }},
		{"expired", func(k *accounts.Key) { t := now.Add(-time.Hour); k.ExpiresAt = &t }},
		{"expiring now", func(k *accounts.Key) { t := now; k.ExpiresAt = &t }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			secret, _ := w.issue(t, w.alice, tc.change, accounts.ScopeAdmin)
			p, err := w.svc.Authenticate(context.Background(), secret)
			wantCode(t, err, stipend.EUNAUTHORIZED)
			if p != nil || len(w.store.touchTimes()) != 0 {
				t.Fatal("an unusable key was accepted or marked used")
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		secret, _ := accounts.NewSecret()
		_, err := w.svc.Authenticate(context.Background(), secret)
		wantCode(t, err, stipend.EUNAUTHORIZED)
	})
}

func TestAuthenticateReportsAStoreFailureAsItIs(t *testing.T) {
	t.Parallel()
	// A database outage is not a bad credential: reporting it as one would make clients
	// throw away a good key.
	w := newWorld(t)
	w.store.lookupErr = stipend.Errorf(stipend.EUNAVAILABLE, "the database is unavailable")
	secret, _ := w.issue(t, w.alice, nil, accounts.ScopeRead)
	_, err := w.svc.Authenticate(context.Background(), secret)
	wantCode(t, err, stipend.EUNAVAILABLE)
}

func TestBootstrapCreatesTheOperatorAndAnAdminKeyOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newFakeStore()
	svc := accounts.NewService(store, func() time.Time { return clock })

	_, _, err := svc.CreateAdminKey(ctx, "console")
	wantCode(t, err, stipend.ENOTFOUND)

	secret, created, err := svc.Bootstrap(ctx)
	wantCode(t, err, "")
	if !created || !secretPattern.MatchString(secret) {
		t.Fatalf("Bootstrap = %q, %v; want a secret and true", secret, created)
	}
	p, err := svc.Authenticate(ctx, secret)
	wantCode(t, err, "")
	if !p.IsAdmin() || p.Account.Handle != accounts.OperatorHandle {
		t.Fatalf("the bootstrap key is %v of %q, want an admin key of the operator", p.Key.Scopes, p.Account.Handle)
	}

	secret, created, err = svc.Bootstrap(ctx)
	wantCode(t, err, "")
	if created || secret != "" {
		t.Fatalf("a second Bootstrap = %q, %v; want \"\" and false", secret, created)
	}

	k, secret, err := svc.CreateAdminKey(ctx, "console")
	wantCode(t, err, "")
	if k.AccountID != p.Account.ID || !slices.Equal(k.Scopes, []string{accounts.ScopeAdmin}) || !k.CreatedAt.Equal(now) {
		t.Fatalf("CreateAdminKey = %#v", k)
	}
	if _, err := svc.Authenticate(ctx, secret); err != nil {
		t.Fatalf("the new admin key does not authenticate: %v", err)
	}
	_, _, err = svc.CreateAdminKey(ctx, "")
	wantCode(t, err, stipend.EINVALID)
}

func TestNewServiceWithoutAClockUsesTheWallClockInUTC(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	a := accounts.Account{ID: "acct_1", Kind: accounts.KindUser, Handle: "alice", Name: "Alice"}
	if err := store.CreateAccount(context.Background(), &a); err != nil {
		t.Fatal(err)
	}
	svc := accounts.NewService(store, nil)
	before := time.Now().Truncate(time.Microsecond)
	k, _, err := svc.CreateKey(context.Background(), as(a, accounts.DefaultScopes()...), accounts.NewKey{Name: "k"})
	wantCode(t, err, "")
	after := time.Now()
	if k.CreatedAt.Before(before) || k.CreatedAt.After(after) || k.CreatedAt.Location() != time.UTC || k.CreatedAt.Nanosecond()%1000 != 0 {
		t.Fatalf("CreatedAt = %v, want a UTC time to the microsecond between %v and %v", k.CreatedAt, before, after)
	}
}

// TestCreateKeyNeverOutlivesItsCreator stops a short-lived key, such as a CI token that
// leaked, from minting a key that lasts longer than it does.
func TestCreateKeyNeverOutlivesItsCreator(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	short := as(w.alice, accounts.DefaultScopes()...)
	limit := now.Add(time.Hour)
	short.Key.ExpiresAt = &limit

	k, _, err := w.svc.CreateKey(ctx, short, accounts.NewKey{Name: "inherits"})
	wantCode(t, err, "")
	if k.ExpiresAt == nil || !k.ExpiresAt.Equal(limit) {
		t.Fatalf("a key made without an expiry by a key expiring at %s expires at %v", limit, k.ExpiresAt)
	}
	later := limit.Add(time.Second)
	_, _, err = w.svc.CreateKey(ctx, short, accounts.NewKey{Name: "longer", ExpiresAt: &later})
	wantCode(t, err, stipend.EINVALID)
	sooner := limit.Add(-time.Minute)
	k, _, err = w.svc.CreateKey(ctx, short, accounts.NewKey{Name: "shorter", ExpiresAt: &sooner})
	wantCode(t, err, "")
	if !k.ExpiresAt.Equal(sooner) {
		t.Fatalf("expiry = %v, want %v", k.ExpiresAt, sooner)
	}
}

// TestResolveRefusesLookalikeHandles checks that a handle written with a character that only
// looks like an ASCII letter names no account, instead of the account it imitates.
func TestResolveRefusesLookalikeHandles(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	for _, h := range []string{"ALICE", "Alice"} {
		a, err := w.svc.Resolve(ctx, h)
		wantCode(t, err, "")
		if a.ID != w.alice.ID {
			t.Fatalf("Resolve(%q) = %s, want alice", h, a.ID)
		}
	}
	for _, h := range []string{"\u0430lice", "al\u0131ce", "ac\u212Ame", "alice\u200b", "", "acct_missing"} {
		_, err := w.svc.Resolve(ctx, h)
		wantCode(t, err, stipend.ENOTFOUND)
	}
}

func TestSetAndRemoveMembers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	owner := as(w.alice, accounts.DefaultScopes()...)
	_, err := w.svc.SetMember(ctx, owner, w.acme.ID, "carol", accounts.RoleMember)
	wantCode(t, err, "")
	wantCode(t, w.svc.Authorize(ctx, as(w.carol), w.acme.ID, accounts.Read), "")
	wantCode(t, w.svc.Authorize(ctx, as(w.carol), w.acme.ID, accounts.Spend), stipend.EFORBIDDEN)

	// A member cannot promote themselves; an owner can.
	_, err = w.svc.SetMember(ctx, as(w.carol, accounts.DefaultScopes()...), w.acme.ID, "carol", accounts.RoleOwner)
	wantCode(t, err, stipend.EFORBIDDEN)
	_, err = w.svc.SetMember(ctx, owner, w.acme.ID, w.carol.ID, accounts.RoleOwner)
	wantCode(t, err, "")
	wantCode(t, w.svc.Authorize(ctx, as(w.carol), w.acme.ID, accounts.Spend), "")

	_, err = w.svc.SetMember(ctx, owner, w.acme.ID, "carol", "king")
	wantCode(t, err, stipend.EINVALID)
	_, err = w.svc.SetMember(ctx, owner, w.acme.ID, "acme", accounts.RoleMember)
	wantCode(t, err, stipend.EINVALID)
	_, err = w.svc.SetMember(ctx, as(w.alice, accounts.DefaultScopes()...), w.alice.ID, "bob", accounts.RoleMember)
	wantCode(t, err, stipend.EINVALID)
	_, err = w.svc.SetMember(ctx, owner, w.acme.ID, "nobody", accounts.RoleMember)
	wantCode(t, err, stipend.ENOTFOUND)

	_, err = w.svc.RemoveMember(ctx, owner, w.acme.ID, "carol")
	wantCode(t, err, "")
	wantCode(t, w.svc.Authorize(ctx, as(w.carol), w.acme.ID, accounts.Read), stipend.EFORBIDDEN)
}
