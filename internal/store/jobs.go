package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/jobs"
)

var _ jobs.Store = (*Store)(nil)

// maxJobErrorLen bounds the last error kept on a job; the whole error is in the worker's logs.
const maxJobErrorLen = 4 << 10

// Enqueue implements jobs.Store.
func (s *Store) Enqueue(ctx context.Context, j jobs.NewJob) (string, bool, error) {
	var id string
	var created bool
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		id, created, err = enqueue(ctx, tx, s.now(), j)
		return err
	})
	return id, created, err
}

// enqueue stores j inside tx, so that a state change, its ledger postings and the job that
// acts on them commit together. now is the enqueue time and, for a job without RunAt, when it
// is due. When j's unique key belongs to a live (queued or running) job, nothing is stored and
// that job's id is returned with created false. Returns EINVALID.
func enqueue(ctx context.Context, tx *db.Tx, now time.Time, j jobs.NewJob) (string, bool, error) {
	if err := j.Validate(); err != nil {
		return "", false, err
	}
	payload, err := json.Marshal(j.Payload)
	if err != nil {
		return "", false, &stipend.Error{Code: stipend.EINVALID, Message: "the job's payload cannot be encoded as JSON", Err: err}
	}
	runAt := j.RunAt
	if runAt.IsZero() {
		runAt = now
	}
	id := stipend.NewID("job")
	args := []any{id, j.Kind, string(payload), nullString(j.UniqueKey), runAt.UTC().UnixMicro(), j.Attempts(), now.UTC().UnixMicro()}
	const insert = `INSERT INTO jobs (id, kind, payload, unique_key, state, run_at, attempts, max_attempts, created_at)
		VALUES (?, ?, ?, ?, 'queued', ?, 0, ?, ?)`
	if j.UniqueKey == "" {
		_, err := tx.Exec(ctx, insert, args...)
		return id, err == nil, err
	}
	// On PostgreSQL the live job that blocked the insert can finish, in a transaction that
	// commits between the insert and the select; the key is then free and the insert is tried
	// again. On SQLite, with one writer, the first round always decides.
	for range 3 {
		res, err := tx.Exec(ctx, insert+` ON CONFLICT (unique_key) WHERE state IN ('queued', 'running') DO NOTHING`, args...)
		if err != nil {
			return "", false, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return "", false, err
		} else if n == 1 {
			return id, true, nil
		}
		var existing string
		err = tx.QueryRow(ctx, `SELECT id FROM jobs WHERE unique_key = ? AND state IN ('queued', 'running')`, j.UniqueKey).Scan(&existing)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return "", false, err
		}
		return existing, false, nil
	}
	return "", false, stipend.Internal(nil, "the live job with unique key %q kept changing during enqueue", j.UniqueKey)
}

// skipLocked is what a claiming SELECT adds so that concurrent claimers on PostgreSQL pass
// over each other's rows instead of waiting for them. SQLite has one writer at a time, so a
// claim there sees every earlier claim committed and needs no row locks.
func skipLocked(d db.Dialect) string {
	if d == db.Postgres {
		return ` FOR UPDATE SKIP LOCKED`
	}
	return ""
}

// Claim implements jobs.Store.
//
// The candidates are picked in a materialized CTE: evaluated exactly once, so that PostgreSQL
// cannot rescan a SKIP LOCKED subquery inside a join and lock more rows than the limit.
func (s *Store) Claim(ctx context.Context, worker string, kinds []string, limit int, lease time.Duration) ([]jobs.Job, error) {
	if lease <= 0 {
		return nil, stipend.Errorf(stipend.EINVALID, "a lease must be positive")
	}
	if worker == "" {
		return nil, stipend.Errorf(stipend.EINVALID, "a claim needs a worker")
	}
	if len(kinds) == 0 || limit < 1 {
		return nil, nil
	}
	lock := skipLocked(s.db.Dialect())
	in := placeholders(len(kinds))
	var out []jobs.Job
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		out = out[:0]
		now := s.nowMicros()
		// A job whose worker died on its last attempt is not run again: if the job is what
		// killed the worker, running it again would kill the next one too.
		args := append([]any{now}, stringArgs(kinds)...)
		args = append(args, now, "its lease ran out on its last attempt; the worker stopped")
		if _, err := tx.Exec(ctx, `WITH expired AS MATERIALIZED (
				SELECT id FROM jobs
				WHERE state = 'running' AND locked_until < ? AND attempts >= max_attempts AND kind IN (`+in+`)`+lock+`)
			UPDATE jobs SET state = 'dead', locked_until = NULL, finished_at = ?, last_error = ?
			WHERE id IN (SELECT id FROM expired)`, args...); err != nil {
			return err
		}

		args = append(stringArgs(kinds), now, now, limit, worker, now+lease.Microseconds())
		rows, err := tx.Query(ctx, `WITH picked AS MATERIALIZED (
				SELECT id FROM jobs
				WHERE kind IN (`+in+`)
				AND ((state = 'queued' AND run_at <= ?) OR (state = 'running' AND locked_until < ? AND attempts < max_attempts))
				ORDER BY run_at, id LIMIT ?`+lock+`)
			UPDATE jobs SET state = 'running', locked_by = ?, locked_until = ?, attempts = attempts + 1
			WHERE id IN (SELECT id FROM picked)
			RETURNING id, kind, payload, attempts, max_attempts, run_at`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var j jobs.Job
			var payload string
			var runAt int64
			if err := rows.Scan(&j.ID, &j.Kind, &payload, &j.Attempt, &j.MaxAttempts, &runAt); err != nil {
				return err
			}
			j.Payload = []byte(payload)
			j.RunAt = fromMicros(runAt)
			out = append(out, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	// RETURNING gives rows in no promised order.
	slices.SortFunc(out, func(a, b jobs.Job) int {
		if c := a.RunAt.Compare(b.RunAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Complete implements jobs.Store. The worker stays recorded on the finished job, for operators
// asking who ran it.
func (s *Store) Complete(ctx context.Context, jobID, worker string) error {
	return s.updateHeld(ctx, jobID, worker, `UPDATE jobs SET state = 'done', locked_until = NULL, finished_at = ?
		WHERE id = ? AND state = 'running' AND locked_by = ?`, s.nowMicros(), jobID, worker)
}

// Retry implements jobs.Store. Every SET expression reads the row as it was before the update,
// so one condition on attempts decides the state and the columns that go with it.
func (s *Store) Retry(ctx context.Context, jobID, worker string, runAt time.Time, lastError string) error {
	return s.updateHeld(ctx, jobID, worker, `UPDATE jobs SET
			state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
			run_at = CASE WHEN attempts >= max_attempts THEN run_at ELSE ? END,
			finished_at = CASE WHEN attempts >= max_attempts THEN ? ELSE finished_at END,
			locked_by = CASE WHEN attempts >= max_attempts THEN locked_by END,
			locked_until = NULL,
			last_error = ?
		WHERE id = ? AND state = 'running' AND locked_by = ?`,
		runAt.UTC().UnixMicro(), s.nowMicros(), cleanJobError(lastError), jobID, worker)
}

// Snooze implements jobs.Store.
func (s *Store) Snooze(ctx context.Context, jobID, worker string, runAt time.Time) error {
	return s.updateHeld(ctx, jobID, worker, `UPDATE jobs SET state = 'queued', run_at = ?, attempts = attempts - 1,
			locked_by = NULL, locked_until = NULL
		WHERE id = ? AND state = 'running' AND locked_by = ?`, runAt.UTC().UnixMicro(), jobID, worker)
}

// Extend implements jobs.Store. A lease that ran out is renewed too, as long as no other worker
// took the job over: the run is still going and nobody else has started one.
func (s *Store) Extend(ctx context.Context, jobID, worker string, lease time.Duration) error {
	if lease <= 0 {
		return stipend.Errorf(stipend.EINVALID, "a lease must be positive")
	}
	return s.updateHeld(ctx, jobID, worker, `UPDATE jobs SET locked_until = ?
		WHERE id = ? AND state = 'running' AND locked_by = ?`, s.nowMicros()+lease.Microseconds(), jobID, worker)
}

// updateHeld runs an update of a job that worker must hold, and reports ECONFLICT when it
// does not: the statement's WHERE clause names the job, its running state and its holder.
func (s *Store) updateHeld(ctx context.Context, jobID, worker, q string, args ...any) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return stipend.Errorf(stipend.ECONFLICT, "job %s is not running under worker %s", jobID, worker)
		}
		return nil
	})
}

// cleanJobError makes an error text storable on both databases: PostgreSQL's TEXT takes
// neither NUL bytes nor invalid UTF-8, and an error can carry either from a remote peer.
func cleanJobError(s string) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= maxJobErrorLen {
		return s
	}
	n := maxJobErrorLen
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

func stringArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
