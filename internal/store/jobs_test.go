package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/jobs"
)

// jobClock is a clock the tests move by hand, to let leases run out and retries come due
// without sleeping.
type jobClock struct{ us atomic.Int64 }

func newJobClock() *jobClock {
	c := &jobClock{}
	c.us.Store(time.Now().UTC().UnixMicro())
	return c
}

func (c *jobClock) Now() time.Time          { return time.UnixMicro(c.us.Load()).UTC() }
func (c *jobClock) Advance(d time.Duration) { c.us.Add(d.Microseconds()) }

// jobRow is a job as stored.
type jobRow struct {
	state, lastError string
	attempts         int
	runAt            int64
	lockedBy         sql.NullString
	finishedAt       sql.NullInt64
}

func readJob(t testing.TB, s *Store, id string) jobRow {
	t.Helper()
	var r jobRow
	err := s.db.QueryRow(context.Background(), `SELECT state, last_error, attempts, run_at, locked_by, finished_at FROM jobs WHERE id = ?`, id).
		Scan(&r.state, &r.lastError, &r.attempts, &r.runAt, &r.lockedBy, &r.finishedAt)
	if err != nil {
		t.Fatalf("reading job %s: %v", id, err)
	}
	return r
}

func mustEnqueue(t testing.TB, s *Store, j jobs.NewJob) string {
	t.Helper()
	id, created, err := s.Enqueue(context.Background(), j)
	if err != nil || !created {
		t.Fatalf("enqueue %+v: created=%v err=%v", j, created, err)
	}
	return id
}

func mustClaim(t testing.TB, s *Store, worker string, kinds []string, limit int, lease time.Duration) []jobs.Job {
	t.Helper()
	got, err := s.Claim(context.Background(), worker, kinds, limit, lease)
	if err != nil {
		t.Fatalf("claim by %s: %v", worker, err)
	}
	return got
}

func TestJobsEnqueueAndClaim(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		clock := newJobClock()
		s = New(s.DB(), clock.Now)

		type payload struct {
			PayoutID string `json:"payout_id"`
			Amount   int64  `json:"amount"`
		}
		first := mustEnqueue(t, s, jobs.NewJob{Kind: "payout", Payload: payload{"po_1", 2100}})
		later := mustEnqueue(t, s, jobs.NewJob{Kind: "payout", Payload: payload{"po_2", 5}, RunAt: clock.Now().Add(time.Hour)})
		other := mustEnqueue(t, s, jobs.NewJob{Kind: "reconcile", Payload: nil, MaxAttempts: 3})

		if got := mustClaim(t, s, "w1", []string{"nothing-registered"}, 10, time.Minute); len(got) != 0 {
			t.Fatalf("claimed %d jobs of an unknown kind", len(got))
		}
		if got := mustClaim(t, s, "w1", nil, 10, time.Minute); len(got) != 0 {
			t.Fatalf("claimed %d jobs without kinds", len(got))
		}
		got := mustClaim(t, s, "w1", []string{"payout"}, 10, time.Minute)
		if len(got) != 1 || got[0].ID != first {
			t.Fatalf("claimed %+v, want only %s (the other payout is not due)", got, first)
		}
		j := got[0]
		var p payload
		if err := json.Unmarshal(j.Payload, &p); err != nil || p != (payload{"po_1", 2100}) {
			t.Fatalf("payload %s decoded to %+v, %v", j.Payload, p, err)
		}
		if j.Kind != "payout" || j.Attempt != 1 || j.MaxAttempts != jobs.DefaultMaxAttempts || !j.RunAt.Equal(clock.Now()) {
			t.Fatalf("claimed job %+v", j)
		}
		if r := readJob(t, s, first); r.state != "running" || r.lockedBy.String != "w1" {
			t.Fatalf("claimed job stored as %+v", r)
		}
		if again := mustClaim(t, s, "w2", []string{"payout", "reconcile"}, 10, time.Minute); len(again) != 1 || again[0].ID != other {
			t.Fatalf("second claim got %+v, want only %s", again, other)
		} else if string(again[0].Payload) != "null" || again[0].MaxAttempts != 3 {
			t.Fatalf("job without payload claimed as %+v", again[0])
		}
		if err := s.Complete(ctx, first, "w1"); err != nil {
			t.Fatal(err)
		}
		if r := readJob(t, s, first); r.state != "done" || !r.finishedAt.Valid {
			t.Fatalf("completed job stored as %+v", r)
		}
		wantCode(t, s.Complete(ctx, first, "w1"), stipend.ECONFLICT)

		clock.Advance(time.Hour)
		if got := mustClaim(t, s, "w1", []string{"payout"}, 10, time.Minute); len(got) != 1 || got[0].ID != later {
			t.Fatalf("after an hour claimed %+v, want %s", got, later)
		}
	})
}

func TestJobsClaimOrderAndLimit(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		clock := newJobClock()
		s = New(s.DB(), clock.Now)
		base := clock.Now()
		var ids []string
		for i := range 5 {
			// Enqueued newest first, so that order by due time differs from insertion order.
			ids = append([]string{mustEnqueue(t, s, jobs.NewJob{Kind: "k", RunAt: base.Add(-time.Duration(i) * time.Second)})}, ids...)
		}
		got := mustClaim(t, s, "w", []string{"k"}, 3, time.Minute)
		if len(got) != 3 {
			t.Fatalf("claimed %d jobs with limit 3", len(got))
		}
		for i, j := range got {
			if j.ID != ids[i] {
				t.Fatalf("claim %d is %s, want %s: oldest due first", i, j.ID, ids[i])
			}
		}
		if rest := mustClaim(t, s, "w", []string{"k"}, 10, time.Minute); len(rest) != 2 {
			t.Fatalf("claimed %d of the remaining 2", len(rest))
		}
	})
}

func TestJobsInvalid(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, j := range []jobs.NewJob{
			{},
			{Kind: strings.Repeat("k", 101)},
			{Kind: "k", MaxAttempts: -1},
			{Kind: "k", Payload: func() {}},
			{Kind: "k", Payload: json.RawMessage(`{"unterminated`)},
		} {
			_, _, err := s.Enqueue(ctx, j)
			wantCode(t, err, stipend.EINVALID)
		}
		_, err := s.Claim(ctx, "w", []string{"k"}, 1, 0)
		wantCode(t, err, stipend.EINVALID)
		_, err = s.Claim(ctx, "", []string{"k"}, 1, time.Minute)
		wantCode(t, err, stipend.EINVALID)
		wantCode(t, s.Extend(ctx, "job_x", "w", -time.Second), stipend.EINVALID)
		for _, err := range []error{
			s.Complete(ctx, "job_missing", "w"),
			s.Retry(ctx, "job_missing", "w", time.Now(), "boom"),
			s.Snooze(ctx, "job_missing", "w", time.Now()),
			s.Extend(ctx, "job_missing", "w", time.Minute),
		} {
			wantCode(t, err, stipend.ECONFLICT)
		}
		var n int
		if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM jobs`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d jobs stored after invalid input, %v", n, err)
		}
	})
}

func TestJobsUniqueKey(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		j := jobs.NewJob{Kind: "reconcile", UniqueKey: "reconcile:2026-01-01"}
		id1, created, err := s.Enqueue(ctx, j)
		if err != nil || !created {
			t.Fatalf("first enqueue: %v %v", created, err)
		}
		id2, created, err := s.Enqueue(ctx, j)
		if err != nil || created || id2 != id1 {
			t.Fatalf("second enqueue while queued: id %s (first %s), created %v, %v", id2, id1, created, err)
		}
		// Another key, and no key at all, are not affected.
		mustEnqueue(t, s, jobs.NewJob{Kind: "reconcile", UniqueKey: "reconcile:2026-01-02"})
		mustEnqueue(t, s, jobs.NewJob{Kind: "reconcile"})
		mustEnqueue(t, s, jobs.NewJob{Kind: "reconcile"})

		claimed := mustClaim(t, s, "w", []string{"reconcile"}, 10, time.Minute)
		if len(claimed) != 4 {
			t.Fatalf("claimed %d jobs, want 4", len(claimed))
		}
		if id3, created, err := s.Enqueue(ctx, j); err != nil || created || id3 != id1 {
			t.Fatalf("enqueue while running: id %s, created %v, %v", id3, created, err)
		}
		if err := s.Complete(ctx, id1, "w"); err != nil {
			t.Fatal(err)
		}
		id4, created, err := s.Enqueue(ctx, j)
		if err != nil || !created || id4 == id1 {
			t.Fatalf("enqueue after done: id %s, created %v, %v", id4, created, err)
		}

		// A dead job frees its key too.
		dead := mustEnqueue(t, s, jobs.NewJob{Kind: "once", UniqueKey: "u", MaxAttempts: 1})
		mustClaim(t, s, "w", []string{"once"}, 1, time.Minute)
		if err := s.Retry(ctx, dead, "w", time.Now(), "failed"); err != nil {
			t.Fatal(err)
		}
		if r := readJob(t, s, dead); r.state != "dead" {
			t.Fatalf("job with one attempt failed into %q", r.state)
		}
		mustEnqueue(t, s, jobs.NewJob{Kind: "once", UniqueKey: "u"})
	})
}

// TestJobsUniqueKeyConcurrent enqueues one key from many goroutines at once: exactly one job is
// created and every caller learns its id.
func TestJobsUniqueKeyConcurrent(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		const n = 16
		ids := make([]string, n)
		created := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				ids[i], created[i], errs[i] = s.Enqueue(context.Background(), jobs.NewJob{Kind: "k", UniqueKey: "same"})
			})
		}
		wg.Wait()
		creators := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("enqueue %d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Fatalf("enqueue %d returned %s, enqueue 0 %s", i, ids[i], ids[0])
			}
			if created[i] {
				creators++
			}
		}
		if creators != 1 {
			t.Fatalf("%d enqueues created the job, want 1", creators)
		}
	})
}

// TestJobsEnqueueInTransaction checks the point of the outbox: a job enqueued inside a
// transaction exists exactly when the transaction commits.
func TestJobsEnqueueInTransaction(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		var rolledBack string
		errAbort := errors.New("the state change failed")
		err := s.db.InTx(ctx, func(tx *db.Tx) error {
			var err error
			rolledBack, _, err = enqueue(ctx, tx, s.now(), jobs.NewJob{Kind: "k", UniqueKey: "key"})
			if err != nil {
				return err
			}
			return errAbort
		})
		if !errors.Is(err, errAbort) {
			t.Fatalf("transaction: %v", err)
		}
		var n int
		if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM jobs`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d jobs after a rollback, %v", n, err)
		}
		var committed string
		if err := s.db.InTx(ctx, func(tx *db.Tx) error {
			var err error
			committed, _, err = enqueue(ctx, tx, s.now(), jobs.NewJob{Kind: "k", UniqueKey: "key"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if committed == rolledBack {
			t.Fatal("the committed job reused the rolled-back id")
		}
		if got := mustClaim(t, s, "w", []string{"k"}, 10, time.Minute); len(got) != 1 || got[0].ID != committed {
			t.Fatalf("claimed %+v, want %s", got, committed)
		}
	})
}

// TestJobsConcurrentClaims has 16 workers claim 200 jobs at once: every job is claimed by
// exactly one of them.
func TestJobsConcurrentClaims(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		const total, workers = 200, 16
		want := make(map[string]bool, total)
		for i := range total {
			want[mustEnqueue(t, s, jobs.NewJob{Kind: "k", Payload: i})] = true
		}
		var mu sync.Mutex
		claimedBy := make(map[string][]string, total)
		errs := make(chan error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				worker := fmt.Sprintf("w%d", w)
				for {
					got, err := s.Claim(context.Background(), worker, []string{"k"}, 5, time.Hour)
					if err != nil {
						errs <- err
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, j := range got {
						claimedBy[j.ID] = append(claimedBy[j.ID], worker)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("claim: %v", err)
		}
		if len(claimedBy) != total {
			t.Fatalf("%d of %d jobs claimed", len(claimedBy), total)
		}
		for id, by := range claimedBy {
			if !want[id] {
				t.Fatalf("claimed unknown job %s", id)
			}
			if len(by) != 1 {
				t.Fatalf("job %s claimed %d times, by %v", id, len(by), by)
			}
		}
	})
}

// TestJobsLeaseExpiry is the crash recovery: a job whose worker stopped renewing its lease is
// claimed by another, and the first worker can no longer complete, fail or extend it.
func TestJobsLeaseExpiry(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		clock := newJobClock()
		s = New(s.DB(), clock.Now)
		id := mustEnqueue(t, s, jobs.NewJob{Kind: "k"})
		if got := mustClaim(t, s, "a", []string{"k"}, 1, time.Minute); len(got) != 1 {
			t.Fatalf("a claimed %d jobs", len(got))
		}
		clock.Advance(30 * time.Second)
		if got := mustClaim(t, s, "b", []string{"k"}, 1, time.Minute); len(got) != 0 {
			t.Fatalf("b claimed %+v while a's lease holds", got)
		}
		// Extending moves the lease: at 90s a's original lease would have run out.
		if err := s.Extend(ctx, id, "a", time.Minute); err != nil {
			t.Fatal(err)
		}
		clock.Advance(60 * time.Second)
		if got := mustClaim(t, s, "b", []string{"k"}, 1, time.Minute); len(got) != 0 {
			t.Fatalf("b claimed %+v while a's extended lease holds", got)
		}
		clock.Advance(time.Second)
		got := mustClaim(t, s, "b", []string{"k"}, 1, time.Minute)
		if len(got) != 1 || got[0].ID != id || got[0].Attempt != 2 {
			t.Fatalf("b claimed %+v after a's lease ran out, want %s at attempt 2", got, id)
		}
		wantCode(t, s.Complete(ctx, id, "a"), stipend.ECONFLICT)
		wantCode(t, s.Retry(ctx, id, "a", clock.Now(), "late"), stipend.ECONFLICT)
		wantCode(t, s.Snooze(ctx, id, "a", clock.Now()), stipend.ECONFLICT)
		wantCode(t, s.Extend(ctx, id, "a", time.Minute), stipend.ECONFLICT)
		if r := readJob(t, s, id); r.state != "running" || r.lockedBy.String != "b" || r.attempts != 2 || r.lastError != "" {
			t.Fatalf("after a's refused calls the job is %+v", r)
		}
		if err := s.Complete(ctx, id, "b"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestJobsLeaseExpiryOnLastAttempt checks that a job whose worker died on its last attempt is
// made dead rather than run again.
func TestJobsLeaseExpiryOnLastAttempt(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		clock := newJobClock()
		s = New(s.DB(), clock.Now)
		id := mustEnqueue(t, s, jobs.NewJob{Kind: "k", MaxAttempts: 2})
		mustClaim(t, s, "a", []string{"k"}, 1, time.Minute)
		clock.Advance(2 * time.Minute)
		if got := mustClaim(t, s, "b", []string{"k"}, 1, time.Minute); len(got) != 1 || got[0].Attempt != 2 {
			t.Fatalf("b claimed %+v", got)
		}
		clock.Advance(2 * time.Minute)
		if got := mustClaim(t, s, "c", []string{"k"}, 1, time.Minute); len(got) != 0 {
			t.Fatalf("c claimed %+v, a job past its last attempt", got)
		}
		if r := readJob(t, s, id); r.state != "dead" || !r.finishedAt.Valid || !strings.Contains(r.lastError, "lease") {
			t.Fatalf("job stored as %+v, want dead", r)
		}
	})
}

func TestJobsRetryUntilDead(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		clock := newJobClock()
		s = New(s.DB(), clock.Now)
		id := mustEnqueue(t, s, jobs.NewJob{Kind: "k", MaxAttempts: 3})
		for attempt := 1; attempt <= 3; attempt++ {
			got := mustClaim(t, s, "w", []string{"k"}, 1, time.Minute)
			if len(got) != 1 || got[0].Attempt != attempt {
				t.Fatalf("claim %d: %+v", attempt, got)
			}
			runAt := clock.Now().Add(time.Hour)
			if err := s.Retry(ctx, id, "w", runAt, fmt.Sprintf("failure %d", attempt)); err != nil {
				t.Fatal(err)
			}
			r := readJob(t, s, id)
			if r.attempts != attempt || r.lastError != fmt.Sprintf("failure %d", attempt) {
				t.Fatalf("after failure %d: %+v", attempt, r)
			}
			if attempt < 3 {
				if r.state != "queued" || r.runAt != runAt.UnixMicro() || r.lockedBy.Valid || r.finishedAt.Valid {
					t.Fatalf("after failure %d the job is %+v, want queued for an hour later", attempt, r)
				}
				if got := mustClaim(t, s, "w", []string{"k"}, 1, time.Minute); len(got) != 0 {
					t.Fatalf("claimed %+v before its retry was due", got)
				}
				wantCode(t, s.Retry(ctx, id, "w", runAt, "twice"), stipend.ECONFLICT)
			} else if r.state != "dead" || !r.finishedAt.Valid {
				t.Fatalf("after the last failure the job is %+v, want dead", r)
			}
			clock.Advance(time.Hour)
		}
		if got := mustClaim(t, s, "w", []string{"k"}, 1, time.Minute); len(got) != 0 {
			t.Fatalf("claimed a dead job: %+v", got)
		}
	})
}

func TestJobsErrorTextIsStorable(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		id := mustEnqueue(t, s, jobs.NewJob{Kind: "k"})
		mustClaim(t, s, "w", []string{"k"}, 1, time.Minute)
		msg := "nul\x00 and bad \xff utf-8 " + strings.Repeat("é", 5000)
		if err := s.Retry(context.Background(), id, "w", time.Now(), msg); err != nil {
			t.Fatal(err)
		}
		r := readJob(t, s, id)
		if len(r.lastError) > maxJobErrorLen || !strings.HasPrefix(r.lastError, "nul and bad \uFFFD utf-8 é") || !strings.HasSuffix(r.lastError, "é") {
			t.Fatalf("stored error of %d bytes: %.40q…%q", len(r.lastError), r.lastError, r.lastError[len(r.lastError)-4:])
		}
	})
}

func TestJobsSnoozeGivesTheAttemptBack(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		clock := newJobClock()
		s = New(s.DB(), clock.Now)
		id := mustEnqueue(t, s, jobs.NewJob{Kind: "k", MaxAttempts: 1})
		for range 3 {
			got := mustClaim(t, s, "w", []string{"k"}, 1, time.Minute)
			if len(got) != 1 || got[0].Attempt != 1 {
				t.Fatalf("claimed %+v, want attempt 1 every time", got)
			}
			if err := s.Snooze(ctx, id, "w", clock.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if r := readJob(t, s, id); r.state != "queued" || r.attempts != 0 || r.lockedBy.Valid {
				t.Fatalf("snoozed job is %+v", r)
			}
			if got := mustClaim(t, s, "w", []string{"k"}, 1, time.Minute); len(got) != 0 {
				t.Fatalf("claimed %+v before the snooze ended", got)
			}
			clock.Advance(time.Minute)
		}
	})
}
