package store

import (
	"context"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/idempotency"
)

func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		state, token, _, err := s.Begin(ctx, "acct_a", "k1", "hash-1", time.Minute)
		if err != nil || state != idempotency.Started || token == "" {
			t.Fatalf("first begin = %v, %q, %v", state, token, err)
		}
		if state, _, _, _ := s.Begin(ctx, "acct_a", "k1", "hash-1", time.Minute); state != idempotency.InProgress {
			t.Fatalf("begin while pending = %v, want InProgress", state)
		}
		if state, _, _, _ := s.Begin(ctx, "acct_a", "k1", "hash-2", time.Minute); state != idempotency.Mismatch {
			t.Fatalf("begin with another request = %v, want Mismatch", state)
		}
		if state, _, _, _ := s.Begin(ctx, "acct_b", "k1", "hash-2", time.Minute); state != idempotency.Started {
			t.Fatalf("another principal's key = %v, want Started", state)
		}
		resp := idempotency.Response{Status: 201, ContentType: "application/json", Body: []byte(`{"id":"tx_1"}`)}
		if ok, err := s.Finish(ctx, "acct_a", "k1", "lease_not-mine", resp); err != nil || ok {
			t.Fatalf("finish under a foreign token = %v, %v: want nothing stored", ok, err)
		}
		if ok, err := s.Finish(ctx, "acct_a", "k1", token, resp); err != nil || !ok {
			t.Fatalf("finish = %v, %v", ok, err)
		}
		state, _, got, err := s.Begin(ctx, "acct_a", "k1", "hash-1", time.Minute)
		if err != nil || state != idempotency.Replay || got.Status != 201 || string(got.Body) != string(resp.Body) || got.ContentType != resp.ContentType {
			t.Fatalf("begin after finish = %v, %+v, %v", state, got, err)
		}
		rec, err := s.Lookup(ctx, "acct_a", "k1")
		if err != nil || !rec.Done {
			t.Fatalf("lookup = %+v, %v", rec, err)
		}
		_, err = s.Lookup(ctx, "acct_a", "missing")
		wantCode(t, err, stipend.ENOTFOUND)

		// A pending key whose lease ran out is taken over. The request that lost it can then
		// neither store its response nor release the key from under the new holder.
		_, stale, _, _ := s.Begin(ctx, "acct_a", "k2", "h", -time.Second)
		state, fresh, _, _ := s.Begin(ctx, "acct_a", "k2", "h", time.Minute)
		if state != idempotency.Started || fresh == stale {
			t.Fatalf("expired lease not taken over: %v", state)
		}
		if ok, _ := s.Finish(ctx, "acct_a", "k2", stale, idempotency.Response{Status: 422}); ok {
			t.Fatal("the stale holder stored its response over the new holder's")
		}
		if err := s.Abandon(ctx, "acct_a", "k2", stale); err != nil {
			t.Fatal(err)
		}
		if state, _, _, _ := s.Begin(ctx, "acct_a", "k2", "h", time.Minute); state != idempotency.InProgress {
			t.Fatalf("the stale holder released the new holder's key: %v", state)
		}
		if ok, _ := s.Finish(ctx, "acct_a", "k2", fresh, idempotency.Response{Status: 201}); !ok {
			t.Fatal("the new holder could not store its response")
		}
		if state, _, r, _ := s.Begin(ctx, "acct_a", "k2", "h", time.Minute); state != idempotency.Replay || r.Status != 201 {
			t.Fatalf("replay after takeover = %v %+v, want the new holder's 201", state, r)
		}

		// An abandoned key starts afresh.
		_, t3, _, _ := s.Begin(ctx, "acct_a", "k3", "h", time.Minute)
		if err := s.Abandon(ctx, "acct_a", "k3", t3); err != nil {
			t.Fatal(err)
		}
		if state, _, _, _ := s.Begin(ctx, "acct_a", "k3", "other", time.Minute); state != idempotency.Started {
			t.Fatalf("abandoned key not free: %v", state)
		}
	})
}
