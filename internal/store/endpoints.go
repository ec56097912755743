package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/endpoints"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/payments/ledger"
)

var _ endpoints.Store = (*Store)(nil)

const endpointColumns = `id, owner_id, name, upstream, path_pattern, asset, price, token_ttl, status, created_at, updated_at`

func scanEndpoint(row interface{ Scan(...any) error }) (*endpoints.Endpoint, error) {
	var e endpoints.Endpoint
	var asset string
	var ttl, created, updated int64
	if err := row.Scan(&e.ID, &e.OwnerID, &e.Name, &e.Upstream, &e.PathPattern, &asset, &e.Price.Value, &ttl, &e.Status,
		&created, &updated); err != nil {
		return nil, err
	}
	e.Price.Asset = ledger.Asset(asset)
	e.TTL = time.Duration(ttl) * time.Second
	e.CreatedAt, e.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &e, nil
}

// CreateEndpoint implements endpoints.Store.
func (s *Store) CreateEndpoint(ctx context.Context, e *endpoints.Endpoint) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO endpoints (`+endpointColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.OwnerID, e.Name, e.Upstream, e.PathPattern, string(e.Price.Asset), e.Price.Value, int64(e.TTL/time.Second),
			e.Status, e.CreatedAt.UnixMicro(), e.UpdatedAt.UnixMicro())
		if db.IsForeignKeyViolation(err) {
			return stipend.Errorf(stipend.ENOTFOUND, "no account %s", e.OwnerID)
		}
		return err
	})
}

// Endpoint implements endpoints.Store.
func (s *Store) Endpoint(ctx context.Context, id string) (*endpoints.Endpoint, error) {
	e, err := scanEndpoint(s.db.QueryRow(ctx, `SELECT `+endpointColumns+` FROM endpoints WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no endpoint %s", clipText(id, 64))
	}
	return e, err
}

// EndpointsOf implements endpoints.Store.
func (s *Store) EndpointsOf(ctx context.Context, ownerID string) ([]endpoints.Endpoint, error) {
	return queryAll(ctx, s.db, `SELECT `+endpointColumns+` FROM endpoints WHERE owner_id = ? ORDER BY created_at DESC, id DESC`,
		scanEndpoint, ownerID)
}

// SetEndpointStatus implements endpoints.Store.
func (s *Store) SetEndpointStatus(ctx context.Context, id, status string) (*endpoints.Endpoint, error) {
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE endpoints SET status = ?, updated_at = ? WHERE id = ?`, status, s.nowMicros(), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			if err != nil {
				return err
			}
			return stipend.Errorf(stipend.ENOTFOUND, "no endpoint %s", clipText(id, 64))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Endpoint(ctx, id)
}
