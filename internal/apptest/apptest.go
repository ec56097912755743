// Package apptest starts the whole of Stipend, wired as stipendd wires it, on a fresh test
// database and a real HTTP listener, for the tests of the API, the client and the CLI.
package apptest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stipend/stipend/internal/app"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/githubauth"
	"github.com/stipend/stipend/internal/githubauth/githubtest"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/internal/regtest"
	"github.com/stipend/stipend/payments/lightning"
)

// The settings of every test server: a platform fee of 2.5 %, and uploads of CI results up
// to 4 MiB, small enough for tests of the limit to stay quick.
const (
	FeeBPS       = 250
	ResultsLimit = 4 << 20
)

// Server is a running Stipend.
type Server struct {
	URL   string
	Admin string // the bootstrap admin API key
	App   *app.App
	DB    *db.DB
}

// Start runs Stipend on a new database of the given kind until the test ends. Request bodies
// are capped at 64 KiB, so that tests of the limit stay small.
func Start(t testing.TB, dialect db.Dialect) *Server {
	t.Helper()
	return StartOn(t, dbtest.Open(t, dialect))
}

// Option changes the wiring of a test server.
type Option func(*app.Options)

// WithGitHub lets people link GitHub logins through gh, as stipendd does when an OAuth app is
// configured.
func WithGitHub(gh *githubtest.Server) Option {
	return func(o *app.Options) {
		o.GitHub = githubauth.New(githubauth.Config{ClientID: gh.ClientID, ClientSecret: gh.ClientSecret, WebURL: gh.URL,
			APIURL: gh.APIURL(), RedirectURL: "http://stipend.test/v1/github/callback"})
		o.GitHubLinkKey = githubauth.LinkKey(gh.ClientSecret)
	}
}

// WithClock gives the expert questions the clock now instead of time.Now, so that a test can
// pass a question's deadline, hours away, by turning the clock forward.
func WithClock(now func() time.Time) Option {
	return func(o *app.Options) { o.Now = now }
}

// StartOn runs Stipend on an open, migrated database until the test ends.
func StartOn(t testing.TB, d *db.DB, opts ...Option) *Server {
	t.Helper()
	o := app.Options{Version: "test", BodyLimit: 64 << 10, ResultsLimit: ResultsLimit, FeeBPS: FeeBPS, Logger: testLogger()}
	for _, opt := range opts {
		opt(&o)
	}
	a, err := app.New(d, o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a.API)
	t.Cleanup(hs.Close)
	secret, created, err := a.Accounts.Bootstrap(context.Background())
	if err != nil || !created {
		t.Fatalf("bootstrap: %v", err)
	}
	return &Server{URL: hs.URL, Admin: secret, App: a, DB: d}
}

// StartLightning runs Stipend on a new database of the given kind with the platform node of a
// regtest network as its Lightning node, and its background work (the payout engine and the
// settlement watcher) running, until the test ends.
func StartLightning(t testing.TB, dialect db.Dialect, net *regtest.Network, opts ...Option) *Server {
	t.Helper()
	d := dbtest.Open(t, dialect)
	p := net.Platform
	node := p.Client(t)
	o := app.Options{
		Version: "test", BodyLimit: 64 << 10, ResultsLimit: ResultsLimit, FeeBPS: FeeBPS, Logger: testLogger(),
		Lightning: &app.Lightning{Node: node, NodeID: p.PubKey, Network: "regtest",
			Resolver: &lightning.Resolver{Network: "regtest", AllowInsecure: true}},
		Jobs:          jobs.Options{PollInterval: 50 * time.Millisecond},
		SweepInterval: time.Second,
	}
	for _, opt := range opts {
		opt(&o)
	}
	a, err := app.New(d, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	hs := httptest.NewServer(a.API)
	t.Cleanup(hs.Close)
	secret, _, err := a.Accounts.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &Server{URL: hs.URL, Admin: secret, App: a, DB: d}
}

// testLogger discards the server's log, unless STIPEND_TEST_LOG=1 asks for it on stderr when
// a failing test needs to be understood.
func testLogger() *slog.Logger {
	if os.Getenv("STIPEND_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
