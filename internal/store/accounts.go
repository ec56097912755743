package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/internal/db"
)

var _ accounts.Store = (*Store)(nil)

// CreateAccount implements accounts.Store.
func (s *Store) CreateAccount(ctx context.Context, a *accounts.Account) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error { return insertAccount(ctx, tx, a) })
}

func insertAccount(ctx context.Context, tx *db.Tx, a *accounts.Account) error {
	_, err := tx.Exec(ctx, `INSERT INTO accounts (id, kind, handle, name, email, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		a.ID, a.Kind, a.Handle, a.Name, a.Email, a.CreatedAt.UnixMicro())
	if db.IsUniqueViolation(err) {
		return stipend.Errorf(stipend.ECONFLICT, "handle %q is taken", a.Handle)
	}
	if err != nil {
		return err
	}
	for _, owner := range a.Owners {
		var kind string
		err := tx.QueryRow(ctx, `SELECT kind FROM accounts WHERE id = ?`, owner).Scan(&kind)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && kind != accounts.KindUser) {
			return stipend.Errorf(stipend.ENOTFOUND, "owners: no user account %s", owner)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO account_members (org_id, member_id, role, created_at) VALUES (?, ?, ?, ?)`,
			a.ID, owner, accounts.RoleOwner, a.CreatedAt.UnixMicro()); err != nil {
			return err
		}
	}
	return nil
}

const accountColumns = `id, kind, handle, name, email, created_at`

func scanAccount(row interface{ Scan(...any) error }) (*accounts.Account, error) {
	var a accounts.Account
	var created int64
	if err := row.Scan(&a.ID, &a.Kind, &a.Handle, &a.Name, &a.Email, &created); err != nil {
		return nil, err
	}
	a.CreatedAt = fromMicros(created)
	return &a, nil
}

// Account implements accounts.Store.
func (s *Store) Account(ctx context.Context, id string) (*accounts.Account, error) {
	return s.accountWhere(ctx, "id", id)
}

// AccountByHandle implements accounts.Store.
func (s *Store) AccountByHandle(ctx context.Context, handle string) (*accounts.Account, error) {
	return s.accountWhere(ctx, "handle", handle)
}

func (s *Store) accountWhere(ctx context.Context, column, value string) (*accounts.Account, error) {
	a, err := scanAccount(s.db.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE `+column+` = ?`, value))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no account %q", value)
	}
	if err != nil {
		return nil, err
	}
	if a.Kind == accounts.KindOrg {
		rows, err := s.db.Query(ctx, `SELECT member_id FROM account_members WHERE org_id = ? AND role = ? ORDER BY member_id`, a.ID, accounts.RoleOwner)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return nil, err
			}
			a.Owners = append(a.Owners, id)
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Role implements accounts.Store.
func (s *Store) Role(ctx context.Context, orgID, memberID string) (string, error) {
	var role string
	err := s.db.QueryRow(ctx, `SELECT role FROM account_members WHERE org_id = ? AND member_id = ?`, orgID, memberID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return role, err
}

// CreateKey implements accounts.Store.
func (s *Store) CreateKey(ctx context.Context, k *accounts.Key, secretHash string) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error { return insertKey(ctx, tx, k, secretHash) })
}

func insertKey(ctx context.Context, tx *db.Tx, k *accounts.Key, secretHash string) error {
	_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, account_id, name, hint, secret_hash, scopes, created_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.AccountID, k.Name, k.Hint, secretHash, strings.Join(k.Scopes, " "), nullString(k.CreatedBy),
		k.CreatedAt.UnixMicro(), nullMicros(k.ExpiresAt))
	if db.IsForeignKeyViolation(err) {
		return stipend.Errorf(stipend.ENOTFOUND, "no account %s", k.AccountID)
	}
	return err
}

const keyColumns = `k.id, k.account_id, k.name, k.hint, k.scopes, k.created_by, k.created_at, k.expires_at, k.revoked_at, k.last_used_at`

// keyRow receives the columns of keyColumns, some of which need converting.
type keyRow struct {
	k                          accounts.Key
	scopes                     string
	createdBy                  sql.NullString
	created                    int64
	expires, revoked, lastUsed sql.NullInt64
}

func (r *keyRow) dest() []any {
	return []any{&r.k.ID, &r.k.AccountID, &r.k.Name, &r.k.Hint, &r.scopes, &r.createdBy,
		&r.created, &r.expires, &r.revoked, &r.lastUsed}
}

func (r *keyRow) key() *accounts.Key {
	k := r.k
	k.Scopes = strings.Fields(r.scopes)
	k.CreatedBy = r.createdBy.String
	k.CreatedAt = fromMicros(r.created)
	k.ExpiresAt = fromNullMicros(r.expires)
	k.RevokedAt = fromNullMicros(r.revoked)
	k.LastUsedAt = fromNullMicros(r.lastUsed)
	return &k
}

func queryKey(row interface{ Scan(...any) error }) (*accounts.Key, error) {
	var r keyRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.key(), nil
}

// Key implements accounts.Store.
func (s *Store) Key(ctx context.Context, id string) (*accounts.Key, error) {
	k, err := queryKey(s.db.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys k WHERE k.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no API key %s", id)
	}
	return k, err
}

// Keys implements accounts.Store.
func (s *Store) Keys(ctx context.Context, accountID string) ([]accounts.Key, error) {
	rows, err := s.db.Query(ctx, `SELECT `+keyColumns+` FROM api_keys k WHERE k.account_id = ? ORDER BY k.id DESC`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []accounts.Key
	for rows.Next() {
		k, err := queryKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, *k)
	}
	return keys, rows.Err()
}

// RevokeKey implements accounts.Store.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) (*accounts.Key, error) {
	var k *accounts.Key
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		k, err = queryKey(tx.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys k WHERE k.id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return stipend.Errorf(stipend.ENOTFOUND, "no API key %s", id)
		}
		if err != nil {
			return err
		}
		// The key, and every key made from it for the same account, however indirectly.
		if _, err := tx.Exec(ctx, `WITH RECURSIVE chain (id, account_id) AS (
				SELECT id, account_id FROM api_keys WHERE id = ?
				UNION
				SELECT k.id, k.account_id FROM api_keys k JOIN chain c ON k.created_by = c.id AND k.account_id = c.account_id
			)
			UPDATE api_keys SET revoked_at = ? WHERE id IN (SELECT id FROM chain) AND revoked_at IS NULL`, id, at.UnixMicro()); err != nil {
			return err
		}
		k, err = queryKey(tx.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys k WHERE k.id = ?`, id))
		return err
	})
	return k, err
}

// SetMember implements accounts.Store.
func (s *Store) SetMember(ctx context.Context, orgID, memberID, role string, at time.Time) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO account_members (org_id, member_id, role, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (org_id, member_id) DO UPDATE SET role = excluded.role`, orgID, memberID, role, at.UnixMicro())
		if db.IsForeignKeyViolation(err) {
			return stipend.Errorf(stipend.ENOTFOUND, "no such account")
		}
		return err
	})
}

// RemoveMember implements accounts.Store.
func (s *Store) RemoveMember(ctx context.Context, orgID, memberID string) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM account_members WHERE org_id = ? AND member_id = ?`, orgID, memberID)
		return err
	})
}

// KeyBySecretHash implements accounts.Store.
func (s *Store) KeyBySecretHash(ctx context.Context, hash string) (*accounts.Principal, error) {
	var r keyRow
	var a accounts.Account
	var created int64
	cols := append(r.dest(), &a.ID, &a.Kind, &a.Handle, &a.Name, &a.Email, &created)
	err := s.db.QueryRow(ctx, `SELECT `+keyColumns+`, a.id, a.kind, a.handle, a.name, a.email, a.created_at
		FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.secret_hash = ?`, hash).Scan(cols...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no such API key")
	}
	if err != nil {
		return nil, err
	}
	a.CreatedAt = fromMicros(created)
	p := accounts.Principal{Account: a, Key: *r.key()}
	return &p, nil
}

// TouchKey implements accounts.Store.
func (s *Store) TouchKey(ctx context.Context, id string, at time.Time) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
			at.UnixMicro(), id, at.UnixMicro())
		return err
	})
}

// Bootstrap implements accounts.Store.
func (s *Store) Bootstrap(ctx context.Context, a *accounts.Account, k *accounts.Key, secretHash string) (bool, error) {
	created := false
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, `INSERT INTO system_settings (name, value, created_at) VALUES ('admin_bootstrapped', ?, ?)
			ON CONFLICT (name) DO NOTHING`, k.ID, s.nowMicros())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			created = false
			return err
		}
		if err := insertAccount(ctx, tx, a); err != nil {
			return err
		}
		created = true
		return insertKey(ctx, tx, k, secretHash)
	})
	return created, err
}
