package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/internal/store"
)

// quiet keeps the Runners' logs out of the test output; what a test needs it checks in the
// database.
var quiet = slog.New(slog.DiscardHandler)

// fastOptions make a Runner that polls often and retries almost at once.
func fastOptions(id string) jobs.Options {
	return jobs.Options{
		WorkerID:     id,
		PollInterval: 20 * time.Millisecond,
		Backoff:      func(int) time.Duration { return 10 * time.Millisecond },
		Logger:       quiet,
	}
}

// forEachJobStore runs fn against a store on a fresh SQLite and PostgreSQL database.
func forEachJobStore(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) { fn(t, store.New(d, nil)) })
}

// start runs r until the test ends or the returned stop is called, and fails the test if Run
// does not return soon after.
func start(t *testing.T, r *jobs.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

type jobState struct {
	state, lastError string
	attempts         int
}

func readJob(t testing.TB, s *store.Store, id string) jobState {
	t.Helper()
	var r jobState
	if err := s.DB().QueryRow(context.Background(), `SELECT state, last_error, attempts FROM jobs WHERE id = ?`, id).
		Scan(&r.state, &r.lastError, &r.attempts); err != nil {
		t.Fatalf("reading job %s: %v", id, err)
	}
	return r
}

// waitState waits until job id is in state, and returns it.
func waitState(t testing.TB, s *store.Store, id, state string) jobState {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := readJob(t, s, id)
		if r.state == state {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %+v, waited for %s", id, r, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func enqueue(t testing.TB, s *store.Store, j jobs.NewJob) string {
	t.Helper()
	id, created, err := s.Enqueue(context.Background(), j)
	if err != nil || !created {
		t.Fatalf("enqueue: %v %v", created, err)
	}
	return id
}

// TestRunnerEachJobOnce runs 4 Runners on one database; each of 50 jobs is handled once.
func TestRunnerEachJobOnce(t *testing.T) {
	t.Parallel()
	forEachJobStore(t, func(t *testing.T, s *store.Store) {
		const total = 50
		var mu sync.Mutex
		handled := make(map[string]int)
		by := make(map[string]string)
		all := make(chan struct{})
		handler := func(runner string) jobs.Handler {
			return func(ctx context.Context, j jobs.Job) error {
				time.Sleep(time.Millisecond) // Long enough for the Runners to overlap.
				mu.Lock()
				defer mu.Unlock()
				handled[j.ID]++
				by[j.ID] = runner
				if len(handled) == total {
					select {
					case <-all:
					default:
						close(all)
					}
				}
				return nil
			}
		}
		ids := make([]string, 0, total)
		for i := range total {
			ids = append(ids, enqueue(t, s, jobs.NewJob{Kind: "count", Payload: map[string]int{"n": i}}))
		}
		var stops []func()
		for i := range 4 {
			name := fmt.Sprintf("runner-%d", i)
			r := jobs.NewRunner(s, fastOptions(name))
			r.Register("count", handler(name))
			stops = append(stops, start(t, r))
		}
		select {
		case <-all:
		case <-time.After(30 * time.Second):
			mu.Lock()
			t.Fatalf("only %d of %d jobs handled", len(handled), total)
		}
		var wg sync.WaitGroup
		for _, stop := range stops {
			wg.Go(stop)
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		runners := make(map[string]bool)
		for _, id := range ids {
			if handled[id] != 1 {
				t.Errorf("job %s handled %d times", id, handled[id])
			}
			runners[by[id]] = true
			if r := readJob(t, s, id); r.state != "done" || r.attempts != 1 {
				t.Errorf("job %s is %+v, want done after 1 attempt", id, r)
			}
		}
		t.Logf("%d runners shared the work", len(runners))
	})
}

// TestRunnerFailuresSnoozesAndPanics covers the outcomes of a run other than success.
func TestRunnerFailuresSnoozesAndPanics(t *testing.T) {
	t.Parallel()
	forEachJobStore(t, func(t *testing.T, s *store.Store) {
		var mu sync.Mutex
		attempts := make(map[string][]int) // kind → the Attempt of each run
		record := func(j jobs.Job) int {
			mu.Lock()
			defer mu.Unlock()
			attempts[j.Kind] = append(attempts[j.Kind], j.Attempt)
			return len(attempts[j.Kind])
		}
		r := jobs.NewRunner(s, fastOptions("w"))
		r.Register("flaky", func(ctx context.Context, j jobs.Job) error {
			if record(j) < 3 {
				return fmt.Errorf("rail unavailable (run %d)", j.Attempt)
			}
			return nil
		})
		r.Register("waits", func(ctx context.Context, j jobs.Job) error {
			if record(j) < 3 {
				return fmt.Errorf("not confirmed yet: %w", jobs.Snooze(10*time.Millisecond))
			}
			return nil
		})
		r.Register("panics", func(ctx context.Context, j jobs.Job) error {
			if record(j) == 1 {
				var m map[string]int
				m["boom"]++ // A nil map write: a real runtime panic.
			}
			return nil
		})
		r.Register("doomed", func(ctx context.Context, j jobs.Job) error {
			record(j)
			return errors.New("never works")
		})
		flaky := enqueue(t, s, jobs.NewJob{Kind: "flaky"})
		waits := enqueue(t, s, jobs.NewJob{Kind: "waits", MaxAttempts: 1})
		panics := enqueue(t, s, jobs.NewJob{Kind: "panics"})
		doomed := enqueue(t, s, jobs.NewJob{Kind: "doomed", MaxAttempts: 2})
		start(t, r)

		if got := waitState(t, s, flaky, "done"); got.attempts != 3 || got.lastError != "rail unavailable (run 2)" {
			t.Errorf("flaky job ended as %+v", got)
		}
		// Snoozes cost no attempt: a job with one attempt snoozed twice and then succeeded.
		if got := waitState(t, s, waits, "done"); got.attempts != 1 || got.lastError != "" {
			t.Errorf("snoozing job ended as %+v", got)
		}
		if got := waitState(t, s, panics, "done"); got.attempts != 2 || !strings.Contains(got.lastError, "panic") {
			t.Errorf("panicking job ended as %+v", got)
		}
		if got := waitState(t, s, doomed, "dead"); got.attempts != 2 || got.lastError != "never works" {
			t.Errorf("failing job ended as %+v", got)
		}
		mu.Lock()
		defer mu.Unlock()
		want := map[string][]int{"flaky": {1, 2, 3}, "waits": {1, 1, 1}, "panics": {1, 2}, "doomed": {1, 2}}
		for kind, w := range want {
			if fmt.Sprint(attempts[kind]) != fmt.Sprint(w) {
				t.Errorf("%s ran with attempts %v, want %v", kind, attempts[kind], w)
			}
		}
	})
}

// TestRunnerRecoversExpiredLease is crash recovery end to end: a job claimed by a worker that
// then died is run by a Runner once the lease runs out.
func TestRunnerRecoversExpiredLease(t *testing.T) {
	t.Parallel()
	forEachJobStore(t, func(t *testing.T, s *store.Store) {
		id := enqueue(t, s, jobs.NewJob{Kind: "k"})
		if got, err := s.Claim(context.Background(), "dead-worker", []string{"k"}, 1, 300*time.Millisecond); err != nil || len(got) != 1 {
			t.Fatalf("claim by the worker that dies: %+v, %v", got, err)
		}
		ran := make(chan jobs.Job, 1)
		r := jobs.NewRunner(s, fastOptions("survivor"))
		r.Register("k", func(ctx context.Context, j jobs.Job) error {
			ran <- j
			return nil
		})
		start(t, r)
		select {
		case j := <-ran:
			if j.ID != id || j.Attempt != 2 {
				t.Fatalf("ran %+v", j)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the job of the dead worker was never run")
		}
		waitState(t, s, id, "done")
		wantConflict(t, s.Complete(context.Background(), id, "dead-worker"))
	})
}

// TestRunnerRenewsLease runs a handler for three times its lease: the Runner's heartbeat keeps
// the lease, so neither another worker nor the Runner's own poll takes the job over, and the
// one run completes. The lease is long enough (renewed every 500ms) that a loaded CI machine
// does not miss a beat; a shorter one made this test measure the scheduler instead.
func TestRunnerRenewsLease(t *testing.T) {
	t.Parallel()
	forEachJobStore(t, func(t *testing.T, s *store.Store) {
		id := enqueue(t, s, jobs.NewJob{Kind: "slow"})
		opts := fastOptions("slow")
		opts.Lease = 1500 * time.Millisecond
		opts.HandlerTimeout = 10 * time.Second
		started := make(chan struct{})
		var runs atomic.Int32
		r := jobs.NewRunner(s, opts)
		r.Register("slow", func(ctx context.Context, j jobs.Job) error {
			if runs.Add(1) == 1 {
				close(started)
			}
			select {
			case <-time.After(4500 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
		start(t, r)
		<-started
		deadline := time.Now().Add(4 * time.Second)
		for time.Now().Before(deadline) {
			got, err := s.Claim(context.Background(), "thief", []string{"slow"}, 1, time.Minute)
			if err != nil || len(got) != 0 {
				t.Fatalf("another worker claimed %+v (%v) while the lease was renewed", got, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got := waitState(t, s, id, "done"); got.attempts != 1 {
			t.Fatalf("slow job ended as %+v", got)
		}
		if n := runs.Load(); n != 1 {
			t.Fatalf("the handler ran %d times; a renewed lease means one run", n)
		}
	})
}

// TestRunnerKick shows that Kick starts a job without waiting for the poll.
func TestRunnerKick(t *testing.T) {
	t.Parallel()
	forEachJobStore(t, func(t *testing.T, s *store.Store) {
		opts := fastOptions("kicked")
		opts.PollInterval = time.Hour
		ran := make(chan string, 1)
		r := jobs.NewRunner(s, opts)
		r.Register("k", func(ctx context.Context, j jobs.Job) error {
			ran <- j.ID
			return nil
		})
		start(t, r)
		time.Sleep(50 * time.Millisecond) // Let the first poll find nothing.
		id := enqueue(t, s, jobs.NewJob{Kind: "k"})
		r.Kick()
		select {
		case got := <-ran:
			if got != id {
				t.Fatalf("ran %s, want %s", got, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a kicked Runner did not run the job")
		}
	})
}

// TestRunnerShutdownWaitsForHandlers ends Run's context while a handler runs: Run returns only
// after the handler, and the handler's result is still recorded.
func TestRunnerShutdownWaitsForHandlers(t *testing.T) {
	t.Parallel()
	forEachJobStore(t, func(t *testing.T, s *store.Store) {
		id := enqueue(t, s, jobs.NewJob{Kind: "k"})
		started := make(chan struct{})
		var mu sync.Mutex
		finished := false
		r := jobs.NewRunner(s, fastOptions("w"))
		r.Register("k", func(ctx context.Context, j jobs.Job) error {
			close(started)
			time.Sleep(200 * time.Millisecond)
			if err := ctx.Err(); err != nil {
				return err
			}
			mu.Lock()
			finished = true
			mu.Unlock()
			return nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		<-started
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return")
		}
		mu.Lock()
		defer mu.Unlock()
		if !finished {
			t.Fatal("Run returned before its handler finished")
		}
		if got := readJob(t, s, id); got.state != "done" {
			t.Fatalf("job is %+v after shutdown, want done", got)
		}
		// A second Run after the first returned is fine; two at once are not. The second Run
		// has surely started once it has run a job.
		ran := make(chan struct{})
		r.Register("k2", func(ctx context.Context, j jobs.Job) error {
			close(ran)
			return nil
		})
		enqueue(t, s, jobs.NewJob{Kind: "k2"})
		ctx2, cancel2 := context.WithCancel(context.Background())
		defer cancel2()
		go func() { done <- r.Run(ctx2) }()
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Fatal("the second Run ran nothing")
		}
		if err := r.Run(ctx2); err == nil {
			t.Error("a second concurrent Run was allowed")
		}
		cancel2()
		if err := <-done; err != nil {
			t.Fatalf("second Run: %v", err)
		}
	})
}

func wantConflict(t testing.TB, err error) {
	t.Helper()
	if stipend.ErrorCode(err) != stipend.ECONFLICT {
		t.Fatalf("got %v, want a conflict", err)
	}
}
