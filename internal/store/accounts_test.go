package store

import (
	"context"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
)

func TestAccountsAndKeys(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		alice := newUser(t, s, "alice")

		dup := &accounts.Account{ID: stipend.NewID("acct"), Kind: accounts.KindUser, Handle: alice.Handle, Name: "Other", CreatedAt: now}
		wantCode(t, s.CreateAccount(ctx, dup), stipend.ECONFLICT)

		org := &accounts.Account{ID: stipend.NewID("acct"), Kind: accounts.KindOrg, Handle: "acme-" + alice.ID[len(alice.ID)-6:],
			Name: "Acme", Owners: []string{alice.ID}, CreatedAt: now}
		if err := s.CreateAccount(ctx, org); err != nil {
			t.Fatal(err)
		}
		got, err := s.AccountByHandle(ctx, org.Handle)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != org.ID || len(got.Owners) != 1 || got.Owners[0] != alice.ID || !got.CreatedAt.Equal(now) {
			t.Fatalf("organisation = %+v", got)
		}
		if role, err := s.Role(ctx, org.ID, alice.ID); err != nil || role != accounts.RoleOwner {
			t.Fatalf("role = %q, %v", role, err)
		}
		orgOwnedByOrg := &accounts.Account{ID: stipend.NewID("acct"), Kind: accounts.KindOrg, Handle: "sub-" + alice.ID[len(alice.ID)-6:],
			Name: "Sub", Owners: []string{org.ID}, CreatedAt: now}
		wantCode(t, s.CreateAccount(ctx, orgOwnedByOrg), stipend.ENOTFOUND)
		_, err = s.Account(ctx, "acct_missing")
		wantCode(t, err, stipend.ENOTFOUND)

		secret, hash := accounts.NewSecret()
		exp := now.Add(time.Hour)
		k := &accounts.Key{ID: stipend.NewID("key"), AccountID: alice.ID, Name: "laptop", Hint: accounts.SecretHint(secret),
			Scopes: []string{accounts.ScopeRead, accounts.ScopeTransfers}, CreatedAt: now, ExpiresAt: &exp}
		if err := s.CreateKey(ctx, k, hash); err != nil {
			t.Fatal(err)
		}
		p, err := s.KeyBySecretHash(ctx, accounts.HashSecret(secret))
		if err != nil {
			t.Fatal(err)
		}
		if p.Account.ID != alice.ID || p.Key.ID != k.ID || len(p.Key.Scopes) != 2 || !p.Key.ExpiresAt.Equal(exp) {
			t.Fatalf("principal = %+v", p)
		}
		_, err = s.KeyBySecretHash(ctx, accounts.HashSecret("stp_unknown"))
		wantCode(t, err, stipend.ENOTFOUND)

		if err := s.TouchKey(ctx, k.ID, now); err != nil {
			t.Fatal(err)
		}
		revoked, err := s.RevokeKey(ctx, k.ID, now.Add(time.Minute))
		if err != nil || revoked.RevokedAt == nil || revoked.LastUsedAt == nil {
			t.Fatalf("revoked key = %+v, %v", revoked, err)
		}
		again, err := s.RevokeKey(ctx, k.ID, now.Add(2*time.Minute))
		if err != nil || !again.RevokedAt.Equal(*revoked.RevokedAt) {
			t.Fatalf("revoking twice changed the time: %+v, %v", again, err)
		}
		keys, err := s.Keys(ctx, alice.ID)
		if err != nil || len(keys) != 1 {
			t.Fatalf("keys = %+v, %v", keys, err)
		}
		_, err = s.RevokeKey(ctx, "key_missing", now)
		wantCode(t, err, stipend.ENOTFOUND)
	})
}

func TestBootstrapHappensOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		svc := accounts.NewService(s, nil)
		secret, created, err := svc.Bootstrap(ctx)
		if err != nil || !created || secret == "" {
			t.Fatalf("first bootstrap = %q, %v, %v", secret, created, err)
		}
		p, err := svc.Authenticate(ctx, secret)
		if err != nil || !p.IsAdmin() || p.Account.Handle != accounts.OperatorHandle {
			t.Fatalf("bootstrap key authenticates as %+v, %v", p, err)
		}
		secret2, created, err := svc.Bootstrap(ctx)
		if err != nil || created || secret2 != "" {
			t.Fatalf("second bootstrap = %q, %v, %v", secret2, created, err)
		}
		k, secret3, err := svc.CreateAdminKey(ctx, "recovery")
		if err != nil || !k.Allows(accounts.ScopeAdmin) {
			t.Fatalf("admin key = %+v, %v", k, err)
		}
		if _, err := svc.Authenticate(ctx, secret3); err != nil {
			t.Fatal(err)
		}
	})
}

// TestExpiredAndRevokedKeysAreRefused authenticates through the real store: a key past its
// expiry and a key whose creator was revoked (for the same account) no longer work, while a
// key an admin made for the account survives the admin key's revocation.
func TestExpiredAndRevokedKeysAreRefused(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		clock := time.Now().UTC()
		svc := accounts.NewService(s, func() time.Time { return clock })
		adminSecret, _, err := svc.Bootstrap(ctx)
		if err != nil {
			t.Fatal(err)
		}
		admin, err := svc.Authenticate(ctx, adminSecret)
		if err != nil {
			t.Fatal(err)
		}
		alice := newUser(t, s, "alice")
		_, aliceSecret, err := svc.CreateKey(ctx, admin, accounts.NewKey{AccountID: alice.ID, Name: "main"})
		if err != nil {
			t.Fatal(err)
		}
		main, err := svc.Authenticate(ctx, aliceSecret)
		if err != nil {
			t.Fatal(err)
		}
		soon := clock.Add(time.Hour)
		_, shortSecret, err := svc.CreateKey(ctx, main, accounts.NewKey{Name: "short", ExpiresAt: &soon})
		if err != nil {
			t.Fatal(err)
		}
		_, childSecret, err := svc.CreateKey(ctx, main, accounts.NewKey{Name: "child"})
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{shortSecret, childSecret} {
			if _, err := svc.Authenticate(ctx, secret); err != nil {
				t.Fatalf("a fresh key is refused: %v", err)
			}
		}

		clock = clock.Add(2 * time.Hour)
		_, err = svc.Authenticate(ctx, shortSecret)
		wantCode(t, err, stipend.EUNAUTHORIZED)

		if _, err := svc.RevokeKey(ctx, main, main.Key.ID); err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{aliceSecret, childSecret} {
			_, err = svc.Authenticate(ctx, secret)
			wantCode(t, err, stipend.EUNAUTHORIZED)
		}

		// Keys an admin made for others are theirs, not the admin key's.
		_, bobSecret, err := svc.CreateKey(ctx, admin, accounts.NewKey{AccountID: newUser(t, s, "bob").ID, Name: "bob"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.RevokeKey(ctx, admin, admin.Key.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, bobSecret); err != nil {
			t.Fatalf("revoking the admin key revoked a key it made for another account: %v", err)
		}
	})
}
