package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stipend/stipend"
)

// Options configure a Runner. Zero values take the defaults.
type Options struct {
	// Workers is how many handlers run at once (default 4).
	Workers int
	// PollInterval is how often the Runner looks for due jobs when nothing woke it
	// (default 200ms). Kick wakes it at once.
	PollInterval time.Duration
	// Lease is how long a claimed job stays with this Runner before another may take it over
	// (default 5m). The Runner renews it every Lease/3 while the handler runs, so it only runs
	// out when the process dies or cannot reach the database.
	Lease time.Duration
	// HandlerTimeout bounds one run of a handler (default Lease*3/4).
	HandlerTimeout time.Duration
	// Logger receives what the Runner has to say (default slog.Default()).
	Logger *slog.Logger
	// WorkerID names this Runner in the jobs it holds (default: the host name and a random
	// id). Two Runners must not share one.
	WorkerID string
	// Backoff is the delay before the next run of a job whose attempt-th run failed (default
	// DefaultBackoff).
	Backoff func(attempt int) time.Duration
	// Now is the clock that retries and snoozes are scheduled by (default time.Now).
	Now func() time.Time
}

// The defaults of Options.
const (
	DefaultWorkers      = 4
	DefaultPollInterval = 200 * time.Millisecond
	DefaultLease        = 5 * time.Minute
)

// Bounds of DefaultBackoff.
const (
	minBackoff = time.Second
	maxBackoff = 10 * time.Minute
)

// DefaultBackoff doubles from about one second after the first failure up to ten minutes,
// with ±10% jitter so that jobs that failed together (a rail that was down) do not all come
// back at the same instant.
func DefaultBackoff(attempt int) time.Duration {
	d := maxBackoff
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 20 { // Beyond that the shift is far above the cap anyway.
		d = min(minBackoff<<(attempt-1), maxBackoff)
	}
	return d - d/10 + rand.N(d/5+1)
}

// storeTimeout bounds each call the Runner makes to the Store. These calls do not inherit the
// end of Run's context: the result of a run that finished during shutdown must still be
// recorded, or the job would run again after its lease.
const storeTimeout = 30 * time.Second

// maxErrorLen is how much of a handler's error the Runner records; the rest is in the logs.
const maxErrorLen = 4 << 10

// errLeaseLost ends a handler's context when its lease was taken over by another worker.
var errLeaseLost = errors.New("the job's lease was lost to another worker")

// Runner claims due jobs from a Store and runs them on the handlers registered for their
// kinds. Any number of Runners, in one process or many, may share one database: each job run
// is claimed by exactly one of them.
type Runner struct {
	store Store
	opts  Options
	log   *slog.Logger

	mu       sync.Mutex
	handlers map[string]Handler

	kick    chan struct{}
	running atomic.Bool
	claims  atomic.Uint64
}

// NewRunner returns a Runner on store. Register handlers, then call Run.
func NewRunner(store Store, opts Options) *Runner {
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.HandlerTimeout <= 0 {
		opts.HandlerTimeout = opts.Lease * 3 / 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.WorkerID == "" {
		host, _ := os.Hostname()
		opts.WorkerID = host + "/" + stipend.NewID("worker")
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Runner{
		store:    store,
		opts:     opts,
		log:      opts.Logger.With("worker", opts.WorkerID),
		handlers: make(map[string]Handler),
		kick:     make(chan struct{}, 1),
	}
}

// WorkerID returns the name this Runner holds jobs under.
func (r *Runner) WorkerID() string { return r.opts.WorkerID }

// Register makes h run the jobs of kind. It panics on an empty kind, a nil handler or a kind
// registered twice, which are mistakes in the program, not conditions to handle. Handlers may
// be registered while Run is running; they take part from the next poll.
func (r *Runner) Register(kind string, h Handler) {
	if kind == "" || h == nil {
		panic("jobs: Register needs a kind and a handler")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.handlers[kind]; ok {
		panic("jobs: a handler for " + strconv.Quote(kind) + " is already registered")
	}
	r.handlers[kind] = h
}

func (r *Runner) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	kinds := make([]string, 0, len(r.handlers))
	for k := range r.handlers {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

func (r *Runner) handler(kind string) Handler {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.handlers[kind]
}

// Kick makes the Runner look for due jobs at once instead of at its next poll, for example
// right after this process enqueued one. It never blocks, and kicks that arrive together wake
// the Runner once.
func (r *Runner) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run claims and runs jobs until ctx ends, then stops claiming and waits for the handlers that
// are running to return. Ending ctx does not cancel those handlers: a handler may be halfway
// through a payment, and letting it finish (within the handler timeout) is better than leaving
// an outcome to be tracked down. Run returns nil after ctx ends, and an error only when it is
// already running.
func (r *Runner) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("jobs: Run is already running on this Runner")
	}
	defer r.running.Store(false)

	var wg sync.WaitGroup
	defer wg.Wait()
	var active atomic.Int64
	// freed wakes the loop when a handler returns, so that a backlog is worked through without
	// waiting for the next poll.
	freed := make(chan struct{}, 1)
	ticker := time.NewTicker(r.opts.PollInterval)
	defer ticker.Stop()

	poll, backlog := true, false
	for {
		if poll && ctx.Err() == nil {
			free := r.opts.Workers - int(active.Load())
			if free > 0 {
				claimed := r.claim(ctx, free)
				// A full batch suggests more jobs are due; so does having no free worker.
				backlog = len(claimed) == free
				for _, c := range claimed {
					active.Add(1)
					wg.Go(func() {
						defer func() {
							active.Add(-1)
							select {
							case freed <- struct{}{}:
							default:
							}
						}()
						r.work(ctx, c.worker, c.job)
					})
				}
			} else {
				backlog = true
			}
		}
		poll = false
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
			poll = true
		case <-ticker.C:
			poll = true
		case <-freed:
			poll = backlog
		}
	}
}

// claimed is a job and the worker string it was claimed under.
type claimed struct {
	job    Job
	worker string
}

// claim leases up to limit jobs. Each claim holds its jobs under a worker string of its own,
// the WorkerID and a sequence number, so that if this Runner lost a job's lease (a handler
// stuck past its lease) and then claimed the job again, the old run cannot complete the new one.
func (r *Runner) claim(ctx context.Context, limit int) []claimed {
	kinds := r.kinds()
	if len(kinds) == 0 {
		return nil
	}
	worker := r.opts.WorkerID + "#" + strconv.FormatUint(r.claims.Add(1), 10)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	jobs, err := r.store.Claim(sctx, worker, kinds, limit, r.opts.Lease)
	if err != nil {
		r.log.Error("claiming jobs", "err", err)
		return nil
	}
	out := make([]claimed, 0, len(jobs))
	for _, j := range jobs {
		if ctx.Err() != nil {
			// Shutting down: hand the job straight back instead of leaving it to wait out
			// its lease.
			if err := r.store.Snooze(sctx, j.ID, worker, r.opts.Now()); err != nil {
				r.log.Warn("releasing a job at shutdown", "job", j.ID, "kind", j.Kind, "err", err)
			}
			continue
		}
		out = append(out, claimed{job: j, worker: worker})
	}
	return out
}

// work runs one claimed job and records its outcome.
func (r *Runner) work(runCtx context.Context, worker string, j Job) {
	log := r.log.With("job", j.ID, "kind", j.Kind, "attempt", j.Attempt)
	start := time.Now()

	hctx, cancel := context.WithCancelCause(context.WithoutCancel(runCtx))
	defer cancel(nil)
	hctx, cancelTimeout := context.WithTimeout(hctx, r.opts.HandlerTimeout)
	defer cancelTimeout()
	stopHeartbeat := r.heartbeat(runCtx, worker, j, log, cancel)
	err := r.call(hctx, j, log)
	stopHeartbeat()

	sctx, cancelStore := context.WithTimeout(context.WithoutCancel(runCtx), storeTimeout)
	defer cancelStore()
	if errors.Is(context.Cause(hctx), errLeaseLost) {
		log.Warn("job's lease was lost while it ran; another worker has it now", "err", err)
		return
	}
	if err == nil {
		if err := r.store.Complete(sctx, j.ID, worker); err != nil {
			r.logOutcomeError(log, "completing job", err)
			return
		}
		log.Debug("job done", "took", time.Since(start))
		return
	}
	if d, ok := IsSnooze(err); ok {
		if err := r.store.Snooze(sctx, j.ID, worker, r.opts.Now().Add(d)); err != nil {
			r.logOutcomeError(log, "snoozing job", err)
			return
		}
		log.Debug("job snoozed", "for", d)
		return
	}
	msg := truncate(err.Error(), maxErrorLen)
	delay := r.opts.Backoff(j.Attempt)
	if rerr := r.store.Retry(sctx, j.ID, worker, r.opts.Now().Add(delay), msg); rerr != nil {
		r.logOutcomeError(log, "recording job failure", errors.Join(rerr, fmt.Errorf("the run failed: %w", err)))
		return
	}
	if j.Attempt >= j.MaxAttempts {
		log.Error("job failed on its last attempt and is dead", "err", err, "max_attempts", j.MaxAttempts)
		return
	}
	log.Warn("job failed; it will be retried", "err", err, "retry_in", delay)
}

// logOutcomeError logs a failure to record a run's outcome. A conflict means another worker
// took the job over; anything else means the job will run again once its lease runs out.
func (r *Runner) logOutcomeError(log *slog.Logger, what string, err error) {
	if stipend.ErrorCode(err) == stipend.ECONFLICT {
		log.Warn(what+": the job is no longer held by this worker", "err", err)
		return
	}
	log.Error(what+": the job will run again when its lease runs out", "err", err)
}

// call runs the handler of j, turning a panic into an error so that one bad job cannot take
// down the process and every other job with it.
func (r *Runner) call(ctx context.Context, j Job, log *slog.Logger) (err error) {
	h := r.handler(j.Kind)
	if h == nil {
		return fmt.Errorf("no handler for jobs of kind %q", j.Kind)
	}
	defer func() {
		if p := recover(); p != nil {
			log.Error("job handler panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return h(ctx, j)
}

// heartbeat renews the lease of a running job every Lease/3 until the returned function is
// called. When the store says the lease is no longer ours, it ends the handler's context with
// errLeaseLost: another worker is running the job, and this run should stop.
func (r *Runner) heartbeat(runCtx context.Context, worker string, j Job, log *slog.Logger, lost context.CancelCauseFunc) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(max(r.opts.Lease/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), storeTimeout)
			err := r.store.Extend(ctx, j.ID, worker, r.opts.Lease)
			cancel()
			switch {
			case err == nil:
			case stipend.ErrorCode(err) == stipend.ECONFLICT:
				lost(errLeaseLost)
				return
			default:
				// The lease may still hold; the next beat tries again.
				log.Warn("renewing a job's lease", "err", err)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}
