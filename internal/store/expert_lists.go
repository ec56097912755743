package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/payments/ledger"
)

// Ledger kind of a paid reply to a list question.
const kindListReply = "list_reply"

// CreateList implements experts.Store.
func (s *Store) CreateList(ctx context.Context, l *experts.List) (*experts.List, error) {
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO expert_lists (id, handle, name, description, asset, price, answer_window, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, l.ID, l.Handle, l.Name, l.Description, string(l.Price.Asset), l.Price.Value,
			l.AnswerWindow.Microseconds(), l.CreatedAt.UnixMicro())
		if db.IsUniqueViolation(err) {
			return stipend.Errorf(stipend.ECONFLICT, "handle: a list %q exists already", l.Handle)
		}
		if err != nil {
			return err
		}
		for _, m := range l.Members {
			_, err := tx.Exec(ctx, `INSERT INTO expert_list_members (list_id, account_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, l.ID, m)
			if db.IsForeignKeyViolation(err) {
				return stipend.Errorf(stipend.ENOTFOUND, "members: %s has no expert profile", m)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.List(ctx, l.ID)
}

const listColumns = `id, handle, name, description, asset, price, answer_window, created_at`

func scanList(row interface{ Scan(...any) error }) (*experts.List, error) {
	var l experts.List
	var asset string
	var window, created int64
	if err := row.Scan(&l.ID, &l.Handle, &l.Name, &l.Description, &asset, &l.Price.Value, &window, &created); err != nil {
		return nil, err
	}
	l.Price.Asset = ledger.Asset(asset)
	l.AnswerWindow = time.Duration(window) * time.Microsecond
	l.CreatedAt = fromMicros(created)
	return &l, nil
}

func (s *Store) listMembers(ctx context.Context, q querier, l *experts.List) error {
	rows, err := q.Query(ctx, `SELECT account_id FROM expert_list_members WHERE list_id = ? ORDER BY account_id`, l.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	l.Members = l.Members[:0]
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return err
		}
		l.Members = append(l.Members, m)
	}
	return rows.Err()
}

// List implements experts.Store.
func (s *Store) List(ctx context.Context, idOrHandle string) (*experts.List, error) {
	l, err := scanList(s.db.QueryRow(ctx, `SELECT `+listColumns+` FROM expert_lists WHERE id = ? OR handle = ?`, idOrHandle, idOrHandle))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no list %s", idOrHandle)
	}
	if err != nil {
		return nil, err
	}
	return l, s.listMembers(ctx, s.db, l)
}

// Lists implements experts.Store.
func (s *Store) Lists(ctx context.Context) ([]experts.List, error) {
	out, err := queryAll(ctx, s.db, `SELECT `+listColumns+` FROM expert_lists ORDER BY handle`, scanList)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if err := s.listMembers(ctx, s.db, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

const listQuestionColumns = `id, list_id, asker_id, body, asset, price, fee_bps, responses, paid, hold_id, status, deadline,
	created_at, closed_at`

func scanListQuestion(row interface{ Scan(...any) error }) (*experts.ListQuestion, error) {
	var q experts.ListQuestion
	var asset string
	var deadline, created int64
	var closed sql.NullInt64
	if err := row.Scan(&q.ID, &q.ListID, &q.AskerID, &q.Body, &asset, &q.Price.Value, &q.FeeBPS, &q.Responses, &q.Paid, &q.HoldID,
		&q.Status, &deadline, &created, &closed); err != nil {
		return nil, err
	}
	q.Price.Asset = ledger.Asset(asset)
	q.Deadline, q.CreatedAt, q.ClosedAt = fromMicros(deadline), fromMicros(created), fromNullMicros(closed)
	return &q, nil
}

// listQuestionWhere returns a list question with its replies and the input hash of its ask.
func (s *Store) listQuestionWhere(ctx context.Context, q querier, column, value string) (*experts.ListQuestion, string, error) {
	var hash string
	row := q.QueryRow(ctx, `SELECT `+listQuestionColumns+`, input_hash FROM list_questions WHERE `+column+` = ?`, value)
	out, err := scanListQuestion(scanFunc(func(dest ...any) error { return row.Scan(append(dest, &hash)...) }))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", stipend.Errorf(stipend.ENOTFOUND, "no list question %s", value)
	}
	if err != nil {
		return nil, "", err
	}
	rows, err := q.Query(ctx, `SELECT id, expert_id, answer, COALESCE(charity_id, ''), charity_share, fee, charity_amount, earnings,
		ledger_tx, created_at FROM list_replies WHERE question_id = ? ORDER BY created_at, id`, out.ID)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	for rows.Next() {
		r := experts.Reply{QuestionID: out.ID}
		var created int64
		if err := rows.Scan(&r.ID, &r.ExpertID, &r.Answer, &r.CharityID, &r.CharityShare, &r.Parts.Fee, &r.Parts.Charity,
			&r.Parts.Earnings, &r.LedgerTx, &created); err != nil {
			return nil, "", err
		}
		r.CreatedAt = fromMicros(created)
		out.Replies = append(out.Replies, r)
	}
	return out, hash, rows.Err()
}

// ListQuestion implements experts.Store.
func (s *Store) ListQuestion(ctx context.Context, id string) (*experts.ListQuestion, error) {
	q, _, err := s.listQuestionWhere(ctx, s.db, "id", id)
	return q, err
}

// AskList implements experts.Store.
func (s *Store) AskList(ctx context.Context, q *experts.ListQuestion, key, inputHash string) (*experts.ListQuestion, error) {
	total, ok := mulInt64(q.Price.Value, int64(q.Responses))
	if !ok {
		return nil, stipend.Errorf(stipend.EINVALID, "responses: price × responses is too large")
	}
	var out *experts.ListQuestion
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		replay := func() (bool, error) {
			prev, prevHash, err := s.listQuestionWhere(ctx, tx, "idempotency_key", key)
			if stipend.ErrorCode(err) == stipend.ENOTFOUND {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			if prevHash != inputHash {
				return false, stipend.Errorf(stipend.EIDEMPOTENCYMISMATCH, "this idempotency key was used to ask a different question")
			}
			out = prev
			return true, nil
		}
		if done, err := replay(); done || err != nil {
			return err
		}
		h, err := s.hold(ctx, tx, ledger.NewHold{Key: experts.HoldKey(q.ID), Address: ledger.AccountAddress(q.AskerID),
			Amount: ledger.Amount{Value: total, Asset: q.Price.Asset}, Memo: "escrow of list question " + q.ID, CreatedBy: q.AskerID})
		if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `INSERT INTO list_questions (id, idempotency_key, input_hash, list_id, asker_id, body, asset, price,
			fee_bps, responses, paid, hold_id, status, deadline, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 'open', ?, ?)
			ON CONFLICT (idempotency_key) DO NOTHING`, q.ID, key, inputHash, q.ListID, q.AskerID, q.Body, string(q.Price.Asset),
			q.Price.Value, q.FeeBPS, q.Responses, h.ID, q.Deadline.UnixMicro(), q.CreatedAt.UnixMicro())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			// A concurrent ask with the same key committed first; this one's hold must go.
			return errRetryAsk
		}
		if _, _, err := enqueue(ctx, tx, s.now().UTC(), jobs.NewJob{Kind: experts.JobListExpire, Payload: experts.ExpireJob{QuestionID: q.ID},
			UniqueKey: experts.JobListExpire + ":" + q.ID, RunAt: q.Deadline, MaxAttempts: 1000}); err != nil {
			return err
		}
		out, _, err = s.listQuestionWhere(ctx, tx, "id", q.ID)
		return err
	})
	if errors.Is(err, errRetryAsk) {
		return s.AskList(ctx, q, key, inputHash)
	}
	return out, err
}

// mulInt64 returns a × b for non-negative a and b, and whether it fits.
func mulInt64(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	p := a * b
	return p, p/b == a && p >= 0
}

// ListQuestions implements experts.Store.
func (s *Store) ListQuestions(ctx context.Context, f experts.ListQuestionFilter) ([]experts.ListQuestion, string, error) {
	p := newestFirst{columns: listQuestionColumns, table: "list_questions", prefix: "lqs_", cursor: f.Cursor, limit: f.Limit}
	if f.AskerID != "" {
		p.where, p.args = append(p.where, "asker_id = ?"), append(p.args, f.AskerID)
	}
	if f.MemberID != "" {
		p.where, p.args = append(p.where, "list_id IN (SELECT list_id FROM expert_list_members WHERE account_id = ?)"), append(p.args, f.MemberID)
	}
	if f.Status != "" {
		p.where, p.args = append(p.where, "status = ?"), append(p.args, f.Status)
	}
	return queryPage(ctx, s.db, p, scanListQuestion, func(q *experts.ListQuestion) string { return q.ID })
}

// Reply implements experts.Store.
func (s *Store) Reply(ctx context.Context, r *experts.Reply, now time.Time) (*experts.ListQuestion, error) {
	var out *experts.ListQuestion
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		// Counting the response first takes the question's row lock, so that replies to one
		// question are paid one at a time and never more than were bought.
		res, err := tx.Exec(ctx, `UPDATE list_questions SET paid = paid + 1 WHERE id = ? AND status = 'open' AND paid < responses AND deadline > ?`,
			r.QuestionID, now.UnixMicro())
		if err != nil {
			return err
		}
		q, _, err := s.listQuestionWhere(ctx, tx, "id", r.QuestionID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			switch {
			case q.Status != experts.Open:
				return stipend.Errorf(stipend.ECONFLICT, "list question %s is %s", q.ID, q.Status)
			case q.Paid >= q.Responses:
				return stipend.Errorf(stipend.ECONFLICT, "list question %s has all %d responses it paid for", q.ID, q.Responses)
			default:
				return stipend.Errorf(stipend.ECONFLICT, "list question %s passed its deadline at %s", q.ID, q.Deadline.Format(time.RFC3339))
			}
		}
		parts, err := experts.Split(q.Price.Value, q.FeeBPS, r.CharityShare)
		if err != nil {
			return err
		}
		to, err := splitEntries(ctx, tx, q.Price.Asset, r.ExpertID, r.CharityID, parts)
		if err != nil {
			return err
		}
		txKey := kindListReply + ":" + q.ID + ":" + r.ExpertID
		if _, err := s.capture(ctx, tx, q.HoldID, txKey, "reply to list question "+q.ID, to, false); err != nil {
			return err
		}
		t, _, err := s.transactionByKey(ctx, tx, txKey)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO list_replies (id, question_id, expert_id, answer, charity_id, charity_share, fee, charity_amount,
			earnings, ledger_tx, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, q.ID, r.ExpertID, r.Answer,
			nullString(r.CharityID), r.CharityShare, parts.Fee, parts.Charity, parts.Earnings, t.ID, now.UnixMicro())
		if db.IsUniqueViolation(err) {
			return stipend.Errorf(stipend.ECONFLICT, "you have replied to list question %s already", q.ID)
		}
		if err != nil {
			return err
		}
		if parts.Charity > 0 {
			if err := recordDonation(ctx, tx, r.CharityID, r.ExpertID, q.ID, r.ID, ledger.Amount{Value: parts.Charity, Asset: q.Price.Asset}, t.ID, now); err != nil {
				return err
			}
		}
		if q.Paid == q.Responses {
			if _, err := tx.Exec(ctx, `UPDATE list_questions SET status = 'completed', closed_at = ? WHERE id = ?`, now.UnixMicro(), q.ID); err != nil {
				return err
			}
		}
		out, _, err = s.listQuestionWhere(ctx, tx, "id", q.ID)
		return err
	})
	return out, err
}

// ExpireListQuestion implements experts.Store.
func (s *Store) ExpireListQuestion(ctx context.Context, id string, now time.Time) (*experts.ListQuestion, error) {
	var out *experts.ListQuestion
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE list_questions SET status = 'expired', closed_at = ? WHERE id = ? AND status = 'open'`, now.UnixMicro(), id)
		if err != nil {
			return err
		}
		q, _, err := s.listQuestionWhere(ctx, tx, "id", id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return stipend.Errorf(stipend.ECONFLICT, "list question %s is %s already", id, q.Status)
		}
		if _, err := s.release(ctx, tx, q.HoldID, "list question "+q.ID+" expired with "+strconv.Itoa(q.Responses-q.Paid)+" responses unused"); err != nil {
			return err
		}
		out, _, err = s.listQuestionWhere(ctx, tx, "id", id)
		return err
	})
	return out, err
}
