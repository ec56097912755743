package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/paywall"
)

// refundLog is a paywall.Store that only records refunds.
type refundLog struct {
	paywall.Store
	mu       sync.Mutex
	refunded []string
}

func (r *refundLog) RefundCall(_ context.Context, id, _ string) (*paywall.Call, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refunded = append(r.refunded, id)
	return &paywall.Call{ID: id, State: paywall.CallRefunded}, nil
}

func (r *refundLog) ServeCall(context.Context, string, string, []ledger.Entry) (*paywall.Call, error) {
	panic("a call whose handler panicked was served")
}

// TestServeHeldPanic proves that a handler that panics under the paywall is answered 500 on
// the connection, not an empty 200 lost in the held response, and that its call is refunded
// at once rather than when its lease ends.
func TestServeHeldPanic(t *testing.T) {
	t.Parallel()
	store := &refundLog{}
	s := &Server{echo: echo.New(), log: slog.New(slog.DiscardHandler),
		paywall: paywall.New(store, nil, paywall.Config{Lease: time.Minute})}
	s.echo.HTTPErrorHandler = s.handleError
	g := &paywall.Grant{Method: paywall.MethodCredits, PayerID: "acct_payer",
		Call: &paywall.Call{ID: "call_1", LeaseToken: "lease_1", State: paywall.CallReserved}}
	for _, tc := range []struct {
		name    string
		handler echo.HandlerFunc
	}{
		{"before writing", func(echo.Context) error { panic("boom") }},
		{"after writing", func(c echo.Context) error {
			c.Response().WriteHeader(http.StatusOK)
			c.Response().Write([]byte("partial"))
			panic("boom")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store.mu.Lock()
			store.refunded = nil
			store.mu.Unlock()
			h := middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true, LogErrorFunc: func(_ echo.Context, err error, _ []byte) error { return err }})(func(c echo.Context) error { return s.serveHeld(c, tc.handler, g) })
			rec := httptest.NewRecorder()
			c := s.echo.NewContext(httptest.NewRequest(http.MethodGet, "/x/ep_1/q", nil), rec)
			if err := h(c); err != nil {
				t.Fatal(err)
			}
			if rec.Code != http.StatusInternalServerError || rec.Header().Get(echo.HeaderContentType) != "application/problem+json" {
				t.Fatalf("a panicking paid handler answered %d %q %q", rec.Code, rec.Header().Get(echo.HeaderContentType), rec.Body)
			}
			store.mu.Lock()
			defer store.mu.Unlock()
			if len(store.refunded) != 1 || store.refunded[0] != "call_1" {
				t.Fatalf("refunded %v, want [call_1]", store.refunded)
			}
		})
	}
}
