package store

import (
	"context"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/endpoints"
	"github.com/stipend/stipend/payments/ledger"
)

// newEndpoint is an active endpoint of owner created at at.
func newEndpoint(ownerID string, at time.Time) *endpoints.Endpoint {
	at = at.UTC().Truncate(time.Microsecond)
	return &endpoints.Endpoint{ID: stipend.NewID("ep"), OwnerID: ownerID, Name: "Forecasts", Upstream: "https://api.example.com/v1",
		PathPattern: "/v1/*", Price: ledger.Msat(2_100_000), TTL: time.Hour, Status: endpoints.StatusActive, CreatedAt: at, UpdatedAt: at}
}

func TestEndpointStore(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		owner, other := newUser(t, s, "provider"), newUser(t, s, "other")
		base := time.Now().Add(-time.Hour)
		older, newer := newEndpoint(owner.ID, base), newEndpoint(owner.ID, base.Add(time.Minute))
		newer.PathPattern, newer.TTL = "/forecast", 0
		for _, e := range []*endpoints.Endpoint{older, newer, newEndpoint(other.ID, base)} {
			if err := s.CreateEndpoint(ctx, e); err != nil {
				t.Fatal(err)
			}
		}

		got, err := s.Endpoint(ctx, older.ID)
		if err != nil {
			t.Fatal(err)
		}
		if *got != *older {
			t.Fatalf("endpoint = %+v, want %+v", got, older)
		}

		list, err := s.EndpointsOf(ctx, owner.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != newer.ID || list[1].ID != older.ID {
			t.Fatalf("owner's endpoints = %+v, want the newer then the older", list)
		}
		if list[0].TTL != 0 || list[0].PathPattern != "/forecast" {
			t.Fatalf("listed endpoint = %+v", list[0])
		}
		if none, err := s.EndpointsOf(ctx, "acct_nobody"); err != nil || len(none) != 0 {
			t.Fatalf("endpoints of nobody = %v, %v", none, err)
		}

		disabled, err := s.SetEndpointStatus(ctx, older.ID, endpoints.StatusDisabled)
		if err != nil {
			t.Fatal(err)
		}
		if disabled.Status != endpoints.StatusDisabled || !disabled.UpdatedAt.After(older.UpdatedAt) || !disabled.CreatedAt.Equal(older.CreatedAt) {
			t.Fatalf("disabled endpoint = %+v", disabled)
		}
		if again, _ := s.Endpoint(ctx, older.ID); again.Status != endpoints.StatusDisabled {
			t.Fatalf("stored status = %q", again.Status)
		}
	})
}

func TestEndpointStoreNotFound(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, tc := range []struct {
			name string
			err  func() error
		}{
			{"get an unknown endpoint", func() error { _, err := s.Endpoint(ctx, "ep_unknown"); return err }},
			{"disable an unknown endpoint", func() error {
				_, err := s.SetEndpointStatus(ctx, "ep_unknown", endpoints.StatusDisabled)
				return err
			}},
			{"create for an unknown owner", func() error { return s.CreateEndpoint(ctx, newEndpoint("acct_unknown", time.Now())) }},
		} {
			t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.err(), stipend.ENOTFOUND) })
		}
	})
}
