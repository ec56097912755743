package store

import (
	"bytes"
	"context"
	"testing"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/l402"
)

func TestL402RootKeys(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		id, err := l402.NewTokenID()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.RootKey(ctx, id); stipend.ErrorCode(err) != stipend.ENOTFOUND {
			t.Fatalf("root key before creation: err = %v, want ENOTFOUND", err)
		}
		key, err := s.NewRootKey(ctx, id)
		if err != nil || len(key) != 32 {
			t.Fatalf("new root key = %d bytes, %v", len(key), err)
		}
		got, err := s.RootKey(ctx, id)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("root key = %x, %v; want the key created", got, err)
		}
		if _, err := s.NewRootKey(ctx, id); stipend.ErrorCode(err) != stipend.ECONFLICT {
			t.Fatalf("second key for one token id: err = %v, want ECONFLICT", err)
		}
		if again, _ := s.RootKey(ctx, id); !bytes.Equal(again, key) {
			t.Fatal("a refused second key replaced the first")
		}
		other, _ := l402.NewTokenID()
		otherKey, err := s.NewRootKey(ctx, other)
		if err != nil || bytes.Equal(otherKey, key) {
			t.Fatalf("another token's key = %x, %v: want a distinct key", otherKey, err)
		}
	})
}
