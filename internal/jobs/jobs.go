// Package jobs is Stipend's durable job queue: work that must happen after a database
// transaction commits (paying out, tracking a payment, releasing an expired escrow) is written
// as a job row in that same transaction, so that the state change, its ledger postings and the
// promise to act on them commit together or not at all. A Runner then claims due jobs under a
// lease and hands them to the handler registered for their kind.
//
// Delivery is at least once: a worker that dies, or loses its lease, leaves its job to be run
// again by another, so every handler must be idempotent (persist before send, track unknown
// outcomes to their end, never retry a rail call with a new key).
//
// The package holds no SQL; internal/store implements Store on SQLite and PostgreSQL.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stipend/stipend"
)

// DefaultMaxAttempts is how many runs a job gets when NewJob.MaxAttempts is zero. With the
// default backoff the last of them comes about two and a half hours after the first.
const DefaultMaxAttempts = 25

// Job is one claimed run of a job, as a handler sees it.
type Job struct {
	ID   string
	Kind string
	// Payload is the JSON the job was enqueued with.
	Payload []byte
	// Attempt counts the runs so far including this one: 1 on the first run. Snoozed runs are
	// not counted.
	Attempt int
	// MaxAttempts is how many runs the job gets; a failure on the last one makes it dead.
	MaxAttempts int
	// RunAt is when this run was due.
	RunAt time.Time
}

// NewJob is a job to enqueue.
type NewJob struct {
	Kind string
	// Payload is encoded as JSON by the store. Pass a json.RawMessage to store JSON as it is.
	Payload any
	// UniqueKey, when set, makes Enqueue a no-op while another job with the same key is queued
	// or running. A key is free again once its job is done or dead.
	UniqueKey string
	// RunAt is when the job is due; the zero time means now.
	RunAt time.Time
	// MaxAttempts is how many runs the job gets; 0 means DefaultMaxAttempts.
	MaxAttempts int
}

// maxKindLen bounds a kind, which is a name chosen in code, not input.
const maxKindLen = 100

// Validate checks a NewJob before it is stored. Returns EINVALID.
func (j NewJob) Validate() error {
	switch {
	case j.Kind == "":
		return stipend.Errorf(stipend.EINVALID, "a job needs a kind")
	case len(j.Kind) > maxKindLen:
		return stipend.Errorf(stipend.EINVALID, "a job kind is at most %d bytes", maxKindLen)
	case j.MaxAttempts < 0:
		return stipend.Errorf(stipend.EINVALID, "max attempts must not be negative")
	}
	return nil
}

// Attempts returns MaxAttempts with the default applied.
func (j NewJob) Attempts() int {
	if j.MaxAttempts == 0 {
		return DefaultMaxAttempts
	}
	return j.MaxAttempts
}

// Store keeps jobs. Every method that changes a claimed job takes the worker string the job was
// claimed with and acts only while that worker still holds the job's lease: a worker whose lease
// ran out and was taken over by another must not complete, fail or extend the other's run.
type Store interface {
	// Enqueue stores a new job in a transaction of its own and returns its id. When j has a
	// UniqueKey and a job with that key is queued or running, nothing is stored and the id of
	// that job is returned with created false. Returns EINVALID.
	//
	// Code that changes state and needs a job to follow enqueues it in its own transaction
	// through the store's unexported enqueue instead, so that both commit together.
	Enqueue(ctx context.Context, j NewJob) (id string, created bool, err error)

	// Claim leases up to limit jobs of the given kinds to worker for lease and returns them,
	// oldest due first: queued jobs that are due, and running jobs whose lease ran out (their
	// worker died). Each claim counts one attempt. A running job whose lease ran out on its last
	// attempt is made dead instead of being run again, so that a job that kills its worker
	// cannot kill every worker in turn. No kinds, or a limit below 1, claims nothing. A job is
	// never claimed by two claimers at once; on PostgreSQL they skip each other's rows rather
	// than wait for them. Returns EINVALID for a lease that is not positive or an empty worker.
	Claim(ctx context.Context, worker string, kinds []string, limit int, lease time.Duration) ([]Job, error)

	// Complete marks a job that worker holds as done. Returns ECONFLICT when worker does not
	// hold the job (it was never claimed by worker, its lease was taken over, or it is
	// finished).
	Complete(ctx context.Context, jobID, worker string) error

	// Retry records a failed run of a job that worker holds: the job is queued again to run at
	// runAt, or, when this run was its last attempt, made dead. lastError is kept (at most its
	// first few KiB) for operators. Returns ECONFLICT when worker does not hold the job.
	Retry(ctx context.Context, jobID, worker string, runAt time.Time, lastError string) error

	// Snooze queues a job that worker holds again to run at runAt and gives back the attempt
	// its claim counted, so that waiting (for a confirmation, a rate limit) never makes a job
	// dead. It also releases a job that was claimed but not started. Returns ECONFLICT when
	// worker does not hold the job.
	Snooze(ctx context.Context, jobID, worker string, runAt time.Time) error

	// Extend renews the lease of a job that worker holds to lease from now, for runs that take
	// longer than one lease. Returns ECONFLICT when worker does not hold the job and EINVALID
	// for a lease that is not positive.
	Extend(ctx context.Context, jobID, worker string, lease time.Duration) error
}

// Handler runs one job. A nil error completes it; an error from Snooze reschedules it without
// counting the run; any other error, a panic included, retries it after a backoff until its
// attempts are used up. ctx ends at the handler timeout, or when the run's lease is lost.
type Handler func(ctx context.Context, j Job) error

// snoozeError is the error Snooze returns.
type snoozeError struct{ after time.Duration }

func (e *snoozeError) Error() string { return fmt.Sprintf("snoozed for %s", e.after) }

// Snooze returns an error that, returned by a handler (wrapped or not), runs the job again
// after d without counting the run as an attempt: for a job that is waiting rather than
// failing, such as a payment not yet confirmed. A negative d means at once.
func Snooze(d time.Duration) error { return &snoozeError{after: max(d, 0)} }

// IsSnooze reports whether err is, or wraps, an error from Snooze, and for how long.
func IsSnooze(err error) (time.Duration, bool) {
	var s *snoozeError
	if errors.As(err, &s) {
		return s.after, true
	}
	return 0, false
}
