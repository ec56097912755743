package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/idempotency"
)

var _ idempotency.Store = (*Store)(nil)

// Begin implements idempotency.Store.
func (s *Store) Begin(ctx context.Context, principal, key, requestHash string, lease time.Duration) (idempotency.State, string, *idempotency.Response, error) {
	state := idempotency.InProgress
	var resp *idempotency.Response
	token := stipend.NewID("lease")
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		now := s.now().UTC()
		until := now.Add(lease).UnixMicro()
		res, err := tx.Exec(ctx, `INSERT INTO idempotency_keys
			(principal_id, idempotency_key, request_hash, state, locked_until, lease_token, created_at) VALUES (?, ?, ?, 'pending', ?, ?, ?)
			ON CONFLICT (principal_id, idempotency_key) DO NOTHING`, principal, key, requestHash, until, token, now.UnixMicro())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			state = idempotency.Started
			return nil
		}
		rec, err := lookup(ctx, tx, principal, key)
		if err != nil {
			return err
		}
		switch {
		case rec.RequestHash != requestHash:
			state = idempotency.Mismatch
		case rec.Done:
			state, resp = idempotency.Replay, &rec.Response
		case rec.LockedUntil.Before(now):
			// The request that held the key died; this one takes it over.
			res, err := tx.Exec(ctx, `UPDATE idempotency_keys SET locked_until = ?, lease_token = ?
				WHERE principal_id = ? AND idempotency_key = ? AND state = 'pending' AND locked_until = ?`,
				until, token, principal, key, rec.LockedUntil.UnixMicro())
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				state = idempotency.Started
			} else {
				state = idempotency.InProgress
			}
		default:
			state = idempotency.InProgress
		}
		return nil
	})
	if state != idempotency.Started {
		token = ""
	}
	return state, token, resp, err
}

func lookup(ctx context.Context, q querier, principal, key string) (*idempotency.Record, error) {
	var rec idempotency.Record
	var state string
	var until int64
	var status sql.NullInt64
	var ctype, body sql.NullString
	err := q.QueryRow(ctx, `SELECT request_hash, state, locked_until, response_status, response_type, response_body
		FROM idempotency_keys WHERE principal_id = ? AND idempotency_key = ?`, principal, key).
		Scan(&rec.RequestHash, &state, &until, &status, &ctype, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no such idempotency key")
	}
	if err != nil {
		return nil, err
	}
	rec.Done = state == "done"
	rec.LockedUntil = fromMicros(until)
	rec.Response = idempotency.Response{Status: int(status.Int64), ContentType: ctype.String, Body: []byte(body.String)}
	return &rec, nil
}

// Lookup implements idempotency.Store.
func (s *Store) Lookup(ctx context.Context, principal, key string) (*idempotency.Record, error) {
	return lookup(ctx, s.db, principal, key)
}

// Finish implements idempotency.Store.
func (s *Store) Finish(ctx context.Context, principal, key, token string, r idempotency.Response) (bool, error) {
	stored := false
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE idempotency_keys SET state = 'done', response_status = ?, response_type = ?, response_body = ?
			WHERE principal_id = ? AND idempotency_key = ? AND state = 'pending' AND lease_token = ?`,
			r.Status, r.ContentType, string(r.Body), principal, key, token)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		stored = n == 1
		return err
	})
	return stored, err
}

// Abandon implements idempotency.Store.
func (s *Store) Abandon(ctx context.Context, principal, key, token string) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM idempotency_keys
			WHERE principal_id = ? AND idempotency_key = ? AND state = 'pending' AND lease_token = ?`, principal, key, token)
		return err
	})
}
