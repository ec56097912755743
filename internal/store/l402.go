package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/payments/l402"
)

var _ l402.RootKeys = (*Store)(nil)

// rootKeySize is the size of an L402 root key: 32 bytes, the key size of the HMAC-SHA256 the
// macaroon signature chain uses, so that the key is never the weakest link.
const rootKeySize = 32

// NewRootKey implements l402.RootKeys. It creates a random root key for a new token id and
// stores it. A token id that already has a key is a conflict rather than a silent overwrite:
// replacing the key would invalidate a credential someone may already have paid for.
func (s *Store) NewRootKey(ctx context.Context, tokenID l402.TokenID) ([]byte, error) {
	key := make([]byte, rootKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, stipend.Internal(err, "generating an L402 root key")
	}
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO l402_root_keys (token_id, root_key, created_at) VALUES (?, ?, ?)`,
			tokenID.String(), hex.EncodeToString(key), s.nowMicros())
		return err
	})
	if db.IsUniqueViolation(err) {
		return nil, stipend.Errorf(stipend.ECONFLICT, "L402 token id already has a root key")
	}
	if err != nil {
		return nil, err
	}
	return key, nil
}

// RootKey implements l402.RootKeys. It returns ENOTFOUND for a token id that has no key, which
// the verifier turns into a refusal.
func (s *Store) RootKey(ctx context.Context, tokenID l402.TokenID) ([]byte, error) {
	var encoded string
	err := s.db.QueryRow(ctx, `SELECT root_key FROM l402_root_keys WHERE token_id = ?`, tokenID.String()).Scan(&encoded)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no L402 root key for this token id")
	}
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(encoded)
	if err != nil {
		return nil, stipend.Internal(err, "decoding an L402 root key")
	}
	return key, nil
}
