package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/payout"
)

var _ experts.Store = (*Store)(nil)

// Ledger kinds of expert questions.
const (
	kindQuestionAnswer = "question_answer"
	kindQuestionRefund = "question_refund"
)

// CreateCharity implements experts.Store.
func (s *Store) CreateCharity(ctx context.Context, c *experts.Charity) (*experts.Charity, error) {
	dest, err := json.Marshal(c.Destinations)
	if err != nil {
		return nil, err
	}
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		if err := insertAccount(ctx, tx, &accounts.Account{ID: c.AccountID, Kind: accounts.KindOrg, Handle: c.Handle, Name: c.Name,
			CreatedAt: c.CreatedAt}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO charities (id, account_id, handle, name, website, receipt, destinations, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, c.AccountID, c.Handle, c.Name, c.Website, c.Receipt, string(dest), c.CreatedAt.UnixMicro()); err != nil {
			return err
		}
		if to := c.Destinations[payout.RailLightning]; to != "" {
			_, err := tx.Exec(ctx, `INSERT INTO payout_preferences (account_id, asset, rail, destination, minimum, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)`, c.AccountID, string(ledger.BTC), payout.RailLightning, to, experts.PayoutMinimum.Value,
				c.CreatedAt.UnixMicro())
			return err
		}
		return nil
	})
	if db.IsUniqueViolation(err) || stipend.ErrorCode(err) == stipend.ECONFLICT {
		return nil, stipend.Errorf(stipend.ECONFLICT, "handle: %q is taken by a charity or an account", c.Handle)
	}
	if err != nil {
		return nil, err
	}
	return s.Charity(ctx, c.ID)
}

const charityColumns = `id, account_id, handle, name, website, receipt, destinations, created_at`

func scanCharity(row interface{ Scan(...any) error }) (*experts.Charity, error) {
	var c experts.Charity
	var dest string
	var created int64
	if err := row.Scan(&c.ID, &c.AccountID, &c.Handle, &c.Name, &c.Website, &c.Receipt, &dest, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(dest), &c.Destinations); err != nil {
		return nil, err
	}
	c.CreatedAt = fromMicros(created)
	return &c, nil
}

// received fills what a charity has been given, from its receipts, and what of it waits in
// its account.
func (s *Store) received(ctx context.Context, c *experts.Charity) error {
	rows, err := s.db.Query(ctx, `SELECT asset, SUM(amount) FROM donations WHERE charity_id = ? GROUP BY asset ORDER BY asset`, c.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	c.Received = c.Received[:0]
	for rows.Next() {
		var a ledger.Amount
		if err := rows.Scan(&a.Asset, &a.Value); err != nil {
			return err
		}
		c.Received = append(c.Received, a)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	bs, err := s.Balances(ctx, ledger.AccountAddress(c.AccountID))
	if err != nil {
		return err
	}
	c.Balance = c.Balance[:0]
	for _, b := range bs {
		c.Balance = append(c.Balance, ledger.Amount{Value: b.Available + b.Held, Asset: b.Asset})
	}
	return nil
}

// Charity implements experts.Store.
func (s *Store) Charity(ctx context.Context, idOrHandle string) (*experts.Charity, error) {
	c, err := scanCharity(s.db.QueryRow(ctx, `SELECT `+charityColumns+` FROM charities WHERE id = ? OR handle = ?`, idOrHandle, idOrHandle))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no charity %s", idOrHandle)
	}
	if err != nil {
		return nil, err
	}
	return c, s.received(ctx, c)
}

// charityAddress returns the ledger address of a charity's account, where its donations go.
func charityAddress(ctx context.Context, q querier, charityID string) (string, error) {
	var account string
	if err := q.QueryRow(ctx, `SELECT account_id FROM charities WHERE id = ?`, charityID).Scan(&account); err != nil {
		return "", fmt.Errorf("store: the account of charity %s: %w", charityID, err)
	}
	return ledger.AccountAddress(account), nil
}

// Charities implements experts.Store.
func (s *Store) Charities(ctx context.Context) ([]experts.Charity, error) {
	out, err := queryAll(ctx, s.db, `SELECT `+charityColumns+` FROM charities ORDER BY handle`, scanCharity)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if err := s.received(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Donations implements experts.Store.
func (s *Store) Donations(ctx context.Context, charityID, cursor string, limit int) ([]experts.Donation, string, error) {
	return queryPage(ctx, s.db, newestFirst{columns: `id, charity_id, donor_id, question_id, asset, amount, ledger_tx, created_at`,
		table: "donations", prefix: "don_", where: []string{"charity_id = ?"}, args: []any{charityID}, cursor: cursor, limit: limit},
		func(row interface{ Scan(...any) error }) (*experts.Donation, error) {
			var d experts.Donation
			var created int64
			if err := row.Scan(&d.ID, &d.CharityID, &d.DonorID, &d.QuestionID, &d.Asset, &d.Amount, &d.LedgerTx, &created); err != nil {
				return nil, err
			}
			d.CreatedAt = fromMicros(created)
			return &d, nil
		}, func(d *experts.Donation) string { return d.ID })
}

// SaveProfile implements experts.Store.
func (s *Store) SaveProfile(ctx context.Context, p *experts.Profile) (*experts.Profile, error) {
	topics := " " + strings.Join(p.Topics, " ") + " "
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO expert_profiles (account_id, name, bio, topics, asset, price, answer_window, accepting,
		charity_id, charity_share, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET name = excluded.name, bio = excluded.bio, topics = excluded.topics,
		asset = excluded.asset, price = excluded.price, answer_window = excluded.answer_window, accepting = excluded.accepting,
		charity_id = excluded.charity_id, charity_share = excluded.charity_share, updated_at = excluded.updated_at`,
			p.AccountID, p.Name, p.Bio, topics, string(p.Price.Asset), p.Price.Value, p.AnswerWindow.Microseconds(), p.Accepting,
			nullString(p.CharityID), p.CharityShare, p.UpdatedAt.UnixMicro())
		return err
	})
	if db.IsForeignKeyViolation(err) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no charity %s", p.CharityID)
	}
	if err != nil {
		return nil, err
	}
	return s.Profile(ctx, p.AccountID)
}

// profileSelect reads profiles with their handles and records: answers given and ratings.
const profileSelect = `SELECT p.account_id, a.handle, p.name, p.bio, p.topics, p.asset, p.price, p.answer_window, p.accepting,
	COALESCE(p.charity_id, ''), p.charity_share, p.updated_at,
	(SELECT COUNT(*) FROM questions q WHERE q.expert_id = p.account_id AND q.status = 'answered'),
	(SELECT COUNT(*) FROM questions q WHERE q.expert_id = p.account_id AND q.rating > 0),
	(SELECT COALESCE(SUM(q.rating), 0) FROM questions q WHERE q.expert_id = p.account_id)
	FROM expert_profiles p JOIN accounts a ON a.id = p.account_id `

func scanProfile(row interface{ Scan(...any) error }) (*experts.Profile, error) {
	var p experts.Profile
	var topics, asset string
	var window, updated int64
	if err := row.Scan(&p.AccountID, &p.Handle, &p.Name, &p.Bio, &topics, &asset, &p.Price.Value, &window, &p.Accepting,
		&p.CharityID, &p.CharityShare, &updated, &p.Answered, &p.RatingCount, &p.RatingSum); err != nil {
		return nil, err
	}
	p.Topics = strings.Fields(topics)
	p.Price.Asset = ledger.Asset(asset)
	p.AnswerWindow = time.Duration(window) * time.Microsecond
	p.UpdatedAt = fromMicros(updated)
	return &p, nil
}

// Profile implements experts.Store.
func (s *Store) Profile(ctx context.Context, idOrHandle string) (*experts.Profile, error) {
	p, err := scanProfile(s.db.QueryRow(ctx, profileSelect+`WHERE p.account_id = ? OR a.handle = ?`, idOrHandle, idOrHandle))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "no expert %s", idOrHandle)
	}
	return p, err
}

// Profiles implements experts.Store.
func (s *Store) Profiles(ctx context.Context, f experts.Filter) ([]experts.Profile, string, error) {
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return nil, "", err
	}
	where, args := []string{"1 = 1"}, []any{}
	if f.Topic != "" {
		where, args = append(where, `p.topics LIKE ? ESCAPE '\'`), append(args, likePattern(" "+f.Topic+" "))
	}
	if f.Accepting {
		where = append(where, "p.accepting")
	}
	for _, word := range strings.Fields(f.Query) {
		pat := likePattern(word)
		where, args = append(where, `(LOWER(p.name) LIKE ? ESCAPE '\' OR LOWER(p.bio) LIKE ? ESCAPE '\' OR p.topics LIKE ? ESCAPE '\')`), append(args, pat, pat, pat)
	}
	if f.Cursor != "" {
		where, args = append(where, "a.handle > ?"), append(args, f.Cursor)
	}
	rows, err := s.db.Query(ctx, profileSelect+`WHERE `+strings.Join(where, " AND ")+` ORDER BY a.handle LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []experts.Profile
	for rows.Next() {
		p, err := scanProfile(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	var next string
	if len(out) > limit {
		out, next = out[:limit], out[limit-1].Handle
	}
	return out, next, nil
}

// questionTable reads questions with their hold invoices or card escrows, if any. The
// preimage is not read.
const questionTable = `questions LEFT JOIN question_invoices i ON i.question_id = questions.id
	LEFT JOIN question_card_escrows c ON c.question_id = questions.id`

const questionColumns = `id, expert_id, asker_id, body, asset, price, fee_bps, COALESCE(charity_id, ''), charity_share, escrow,
	COALESCE(hold_id, ''), answer_window, status, deadline, answer, decline_reason, fee, charity_amount, earnings, COALESCE(ledger_tx, ''),
	rating, rating_comment, created_at, closed_at, COALESCE(i.payment_request, ''), COALESCE(i.payment_hash, ''),
	COALESCE(i.amount_msat, 0), COALESCE(i.cltv_expiry, 0), COALESCE(i.expires_at, 0), COALESCE(i.state, ''),
	COALESCE(i.accept_height, 0), COALESCE(i.htlc_expiry, 0), COALESCE(i.amount_paid_msat, 0),
	COALESCE(c.payment_intent, ''), COALESCE(c.state, ''), COALESCE(c.pay_by, 0), COALESCE(c.capture_by, 0),
	COALESCE(c.amount_captured, 0)`

func scanQuestion(row interface{ Scan(...any) error }) (*experts.Question, error) {
	var q experts.Question
	var asset string
	var window, deadline, created int64
	var closed sql.NullInt64
	var inv experts.HoldInvoice
	var expires int64
	var card experts.CardEscrow
	var payBy, captureBy int64
	if err := row.Scan(&q.ID, &q.ExpertID, &q.AskerID, &q.Body, &asset, &q.Price.Value, &q.FeeBPS, &q.CharityID, &q.CharityShare,
		&q.Escrow, &q.HoldID, &window, &q.Status, &deadline, &q.Answer, &q.DeclineReason, &q.Parts.Fee, &q.Parts.Charity, &q.Parts.Earnings,
		&q.LedgerTx, &q.Rating, &q.RatingComment, &created, &closed, &inv.PaymentRequest, &inv.Hash, &inv.AmountMsat, &inv.CltvExpiry,
		&expires, &inv.State, &inv.AcceptHeight, &inv.HTLCExpiry, &inv.AmountPaidMsat,
		&card.PaymentIntent, &card.State, &payBy, &captureBy, &card.AmountCaptured); err != nil {
		return nil, err
	}
	if card.State != "" {
		card.PayBy = fromMicros(payBy)
		if captureBy != 0 {
			card.CaptureBy = fromMicros(captureBy)
		}
		q.Card = &card
	}
	q.Price.Asset = ledger.Asset(asset)
	q.AnswerWindow = time.Duration(window) * time.Microsecond
	q.Deadline, q.CreatedAt, q.ClosedAt = fromMicros(deadline), fromMicros(created), fromNullMicros(closed)
	if inv.Hash != "" {
		inv.ExpiresAt = fromMicros(expires)
		q.Invoice = &inv
	}
	return &q, nil
}

func (s *Store) questionWhere(ctx context.Context, q querier, column, value string) (*experts.Question, string, error) {
	var hash string
	row := q.QueryRow(ctx, `SELECT `+questionColumns+`, input_hash FROM `+questionTable+` WHERE `+column+` = ?`, value)
	out, err := scanQuestion(scanFunc(func(dest ...any) error { return row.Scan(append(dest, &hash)...) }))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", stipend.Errorf(stipend.ENOTFOUND, "no question %s", value)
	}
	return out, hash, err
}

// scanFunc lets a function stand for a row.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// Question implements experts.Store.
func (s *Store) Question(ctx context.Context, id string) (*experts.Question, error) {
	q, _, err := s.questionWhere(ctx, s.db, "id", id)
	return q, err
}

// Ask implements experts.Store.
func (s *Store) Ask(ctx context.Context, q *experts.Question, key, inputHash string) (*experts.Question, error) {
	return s.ask(ctx, q, key, inputHash, func(tx *db.Tx) error {
		h, err := s.hold(ctx, tx, ledger.NewHold{Key: experts.HoldKey(q.ID), Address: ledger.AccountAddress(q.AskerID), Amount: q.Price,
			Memo: "escrow of question " + q.ID, CreatedBy: q.AskerID})
		if err != nil {
			return err
		}
		q.HoldID = h.ID
		return nil
	}, func(tx *db.Tx) error {
		_, _, err := enqueue(ctx, tx, s.now().UTC(), jobs.NewJob{Kind: experts.JobExpire, Payload: experts.ExpireJob{QuestionID: q.ID},
			UniqueKey: experts.JobExpire + ":" + q.ID, RunAt: q.Deadline, MaxAttempts: 1000})
		return err
	})
}

// AskLightning implements experts.Store.
func (s *Store) AskLightning(ctx context.Context, q *experts.Question, preimage, key, inputHash string) (*experts.Question, error) {
	if q.Invoice == nil {
		return nil, stipend.Errorf(stipend.EINVALID, "a question with Lightning escrow needs its hold invoice")
	}
	return s.ask(ctx, q, key, inputHash, func(*db.Tx) error { return nil }, func(tx *db.Tx) error {
		inv := q.Invoice
		if _, err := tx.Exec(ctx, `INSERT INTO question_invoices (question_id, payment_hash, preimage, payment_request, amount_msat,
			cltv_expiry, expires_at, state, accept_height, htlc_expiry, amount_paid_msat, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'open', 0, 0, 0, ?)`, q.ID, inv.Hash, preimage, inv.PaymentRequest, inv.AmountMsat,
			int64(inv.CltvExpiry), inv.ExpiresAt.UnixMicro(), q.CreatedAt.UnixMicro()); err != nil {
			return err
		}
		_, _, err := enqueue(ctx, tx, s.now().UTC(), jobs.NewJob{Kind: experts.JobPaymentDue, Payload: experts.EscrowJob{QuestionID: q.ID},
			UniqueKey: experts.JobPaymentDue + ":" + q.ID, RunAt: inv.ExpiresAt, MaxAttempts: 1000})
		return err
	})
}

// ask stores question q under an idempotency key in one transaction: escrow takes its escrow
// before the row is written, and then schedules what follows. A key used before returns the
// question it made, or EIDEMPOTENCYMISMATCH for another input.
func (s *Store) ask(ctx context.Context, q *experts.Question, key, inputHash string, escrow, then func(*db.Tx) error) (*experts.Question, error) {
	var out *experts.Question
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		replay := func() (bool, error) {
			prev, prevHash, err := s.questionWhere(ctx, tx, "idempotency_key", key)
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
		if err := escrow(tx); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `INSERT INTO questions (id, idempotency_key, input_hash, expert_id, asker_id, body, asset, price, fee_bps,
			charity_id, charity_share, escrow, hold_id, status, answer_window, deadline, answer, decline_reason, fee, charity_amount,
			earnings, rating, rating_comment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', 0, 0, 0, 0, '', ?)
			ON CONFLICT (idempotency_key) DO NOTHING`,
			q.ID, key, inputHash, q.ExpertID, q.AskerID, q.Body, string(q.Price.Asset), q.Price.Value, q.FeeBPS,
			nullString(q.CharityID), q.CharityShare, q.Escrow, nullString(q.HoldID), q.Status, q.AnswerWindow.Microseconds(),
			q.Deadline.UnixMicro(), q.CreatedAt.UnixMicro())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			// A concurrent ask with the same key committed first; this transaction's escrow
			// must not stay.
			return errRetryAsk
		}
		if err := then(tx); err != nil {
			return err
		}
		out, _, err = s.questionWhere(ctx, tx, "id", q.ID)
		return err
	})
	if errors.Is(err, errRetryAsk) {
		return s.ask(ctx, q, key, inputHash, escrow, then)
	}
	return out, err
}

// errRetryAsk rolls back an ask that lost a race with the same key, to be answered from the
// winner's row.
var errRetryAsk = errors.New("store: ask lost a race with the same idempotency key")

// QuestionByKey implements experts.Store.
func (s *Store) QuestionByKey(ctx context.Context, key string) (*experts.Question, string, error) {
	return s.questionWhere(ctx, s.db, "idempotency_key", key)
}

// Questions implements experts.Store.
func (s *Store) Questions(ctx context.Context, f experts.QuestionFilter) ([]experts.Question, string, error) {
	p := newestFirst{columns: questionColumns, table: questionTable, prefix: "qst_", cursor: f.Cursor, limit: f.Limit}
	for _, c := range []struct{ column, value string }{{"asker_id", f.AskerID}, {"expert_id", f.ExpertID}, {"status", f.Status}} {
		if c.value != "" {
			p.where, p.args = append(p.where, c.column+" = ?"), append(p.args, c.value)
		}
	}
	if f.Paid {
		p.where = append(p.where, "status NOT IN ('awaiting_payment', 'unpaid')")
	}
	return queryPage(ctx, s.db, p, scanQuestion, func(q *experts.Question) string { return q.ID })
}

// endQuestion moves a question from status from to status to, taking its row lock so that an
// answer, a decline and an expiry of one question run one after another and only the first
// one ends it; deadlineAfter also requires the deadline to be after now. Returns ENOTFOUND
// and ECONFLICT.
func (s *Store) endQuestion(ctx context.Context, tx *db.Tx, id, from, to string, now time.Time, deadlineAfter bool) (*experts.Question, error) {
	cond := ""
	args := []any{to, now.UnixMicro(), id, from}
	if deadlineAfter {
		cond, args = " AND deadline > ?", append(args, now.UnixMicro())
	}
	res, err := tx.Exec(ctx, `UPDATE questions SET status = ?, closed_at = ? WHERE id = ? AND status = ?`+cond, args...)
	if err != nil {
		return nil, err
	}
	q, _, err := s.questionWhere(ctx, tx, "id", id)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, err
	} else if n == 0 {
		if q.Status == from && from == experts.Open {
			return nil, stipend.Errorf(stipend.ECONFLICT, "question %s passed its deadline at %s", id, q.Deadline.Format(time.RFC3339))
		}
		return nil, stipend.Errorf(stipend.ECONFLICT, "question %s is %s, not %s", id, q.Status, strings.ReplaceAll(from, "_", " "))
	}
	return q, nil
}

// Tables of the escrows held outside the ledger, as decideEscrow takes them.
const (
	holdInvoices = "question_invoices"
	cardEscrows  = "question_card_escrows"
)

// decideEscrow marks the escrow of question id held outside the ledger (in table, a hold
// invoice or a card payment), in state from, to be taken or returned (state to) and schedules
// the job that does it, in transaction tx.
func (s *Store) decideEscrow(ctx context.Context, tx *db.Tx, table, id string, from []string, to, job string, now time.Time) error {
	args := []any{to, now.UnixMicro(), id}
	for _, f := range from {
		args = append(args, f)
	}
	res, err := tx.Exec(ctx, `UPDATE `+table+` SET state = ?, updated_at = ? WHERE question_id = ? AND state IN (`+
		strings.TrimSuffix(strings.Repeat("?, ", len(from)), ", ")+`)`, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return fmt.Errorf("store: the escrow of question %s in %s is not %s", id, table, strings.Join(from, " or "))
	}
	_, _, err = enqueue(ctx, tx, now, jobs.NewJob{Kind: job, Payload: experts.EscrowJob{QuestionID: id}, UniqueKey: job + ":" + id,
		MaxAttempts: 1000})
	return err
}

// AnswerQuestion implements experts.Store.
func (s *Store) AnswerQuestion(ctx context.Context, id, answer string, now time.Time) (*experts.Question, error) {
	var out *experts.Question
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		q, err := s.endQuestion(ctx, tx, id, experts.Open, experts.Answered, now, true)
		if err != nil {
			return err
		}
		parts, err := experts.Split(q.Price.Value, q.FeeBPS, q.CharityShare)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE questions SET answer = ?, fee = ?, charity_amount = ?, earnings = ? WHERE id = ?`,
			answer, parts.Fee, parts.Charity, parts.Earnings, q.ID); err != nil {
			return err
		}
		q.Parts = parts
		switch q.Escrow {
		case experts.EscrowLightning:
			// The ledger is credited when the node has settled the invoice.
			if err := s.decideEscrow(ctx, tx, holdInvoices, q.ID, []string{experts.HoldAccepted}, experts.HoldSettle, experts.JobSettleHold, now); err != nil {
				return err
			}
		case experts.EscrowCard:
			// The ledger is credited when Stripe has captured the payment.
			if err := s.decideEscrow(ctx, tx, cardEscrows, q.ID, []string{experts.CardAuthorized}, experts.CardCapture, experts.JobCaptureCard, now); err != nil {
				return err
			}
		default:
			txKey := kindQuestionAnswer + ":" + q.ID
			to, err := answerEntries(ctx, tx, q)
			if err != nil {
				return err
			}
			if _, err := s.capture(ctx, tx, q.HoldID, txKey, "answer to question "+q.ID, to, false); err != nil {
				return err
			}
			if err := s.paidAnswer(ctx, tx, q, txKey, now); err != nil {
				return err
			}
		}
		out, _, err = s.questionWhere(ctx, tx, "id", id)
		return err
	})
	return out, err
}

// answerEntries are the credits that pay an answered question: the expert's earnings, the
// platform fee and the charity's share, each when not zero.
func answerEntries(ctx context.Context, tx *db.Tx, q *experts.Question) ([]ledger.Entry, error) {
	return splitEntries(ctx, tx, q.Price.Asset, q.ExpertID, q.CharityID, q.Parts)
}

// splitEntries are the credits of parts to an expert, the platform fee and a charity, each
// when not zero.
func splitEntries(ctx context.Context, tx *db.Tx, asset ledger.Asset, expertID, charityID string, parts experts.Parts) ([]ledger.Entry, error) {
	var to []ledger.Entry
	add := func(address string, v int64) {
		if v > 0 {
			to = append(to, ledger.Entry{Address: address, Asset: asset, Amount: v})
		}
	}
	add(ledger.AccountAddress(expertID), parts.Earnings)
	add(ledger.FeesAddress, parts.Fee)
	if parts.Charity > 0 {
		// Without a charity the share is 0, which the schema enforces.
		address, err := charityAddress(ctx, tx, charityID)
		if err != nil {
			return nil, err
		}
		add(address, parts.Charity)
	}
	return to, nil
}

// paidAnswer links an answered question to the ledger transaction with key txKey that paid it
// and records the donation receipt of the charity's share.
func (s *Store) paidAnswer(ctx context.Context, tx *db.Tx, q *experts.Question, txKey string, now time.Time) error {
	t, _, err := s.transactionByKey(ctx, tx, txKey)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE questions SET ledger_tx = ? WHERE id = ?`, t.ID, q.ID); err != nil {
		return err
	}
	if q.Parts.Charity > 0 {
		return recordDonation(ctx, tx, q.CharityID, q.ExpertID, q.ID, q.ID, ledger.Amount{Value: q.Parts.Charity, Asset: q.Price.Asset}, t.ID, now)
	}
	return nil
}

// CloseQuestion implements experts.Store.
func (s *Store) CloseQuestion(ctx context.Context, id, status, reason string, now time.Time) (*experts.Question, error) {
	from := experts.Open
	switch status {
	case experts.Declined, experts.Expired:
	case experts.Unpaid:
		from = experts.AwaitingPayment
	default:
		return nil, stipend.Errorf(stipend.EINVALID, "a question is closed as declined, expired or unpaid, not %s", status)
	}
	var out *experts.Question
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		q, err := s.endQuestion(ctx, tx, id, from, status, now, false)
		if err != nil {
			return err
		}
		ledgerTx := ""
		switch q.Escrow {
		case experts.EscrowLightning:
			if err := s.decideEscrow(ctx, tx, holdInvoices, q.ID, []string{experts.HoldOpen, experts.HoldAccepted}, experts.HoldCancel, experts.JobCancelHold, now); err != nil {
				return err
			}
		case experts.EscrowCard:
			if err := s.decideEscrow(ctx, tx, cardEscrows, q.ID, []string{experts.CardPending, experts.CardAuthorized}, experts.CardCancel, experts.JobCancelCard, now); err != nil {
				return err
			}
		default:
			if _, err := s.release(ctx, tx, q.HoldID, "question "+q.ID+" "+status); err != nil {
				return err
			}
			t, _, err := s.transactionByKey(ctx, tx, "release:"+q.HoldID)
			if err != nil {
				return err
			}
			ledgerTx = t.ID
		}
		if _, err := tx.Exec(ctx, `UPDATE questions SET decline_reason = ?, ledger_tx = ? WHERE id = ?`, reason, nullString(ledgerTx), q.ID); err != nil {
			return err
		}
		out, _, err = s.questionWhere(ctx, tx, "id", id)
		return err
	})
	return out, err
}

// OpenQuestion implements experts.Store.
func (s *Store) OpenQuestion(ctx context.Context, id string, htlc experts.HeldHTLC, deadline, now time.Time) (*experts.Question, error) {
	var out *experts.Question
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE questions SET status = 'open', deadline = ? WHERE id = ? AND status = 'awaiting_payment'`,
			deadline.UnixMicro(), id)
		if err != nil {
			return err
		}
		q, _, err := s.questionWhere(ctx, tx, "id", id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return stipend.Errorf(stipend.ECONFLICT, "question %s is %s, not awaiting payment", id, q.Status)
		}
		if _, err := tx.Exec(ctx, `UPDATE question_invoices SET state = 'accepted', accept_height = ?, htlc_expiry = ?,
			amount_paid_msat = ?, updated_at = ? WHERE question_id = ? AND state = 'open'`,
			htlc.AcceptHeight, htlc.Expiry, htlc.AmountMsat, now.UnixMicro(), id); err != nil {
			return err
		}
		if _, _, err := enqueue(ctx, tx, now, jobs.NewJob{Kind: experts.JobExpire, Payload: experts.ExpireJob{QuestionID: id},
			UniqueKey: experts.JobExpire + ":" + id, MaxAttempts: 1000}); err != nil {
			return err
		}
		out, _, err = s.questionWhere(ctx, tx, "id", id)
		return err
	})
	return out, err
}

// AwaitingPayment implements experts.Store.
func (s *Store) AwaitingPayment(ctx context.Context) ([]experts.Question, error) {
	// The invoice's state is indexed; the question's status agrees with it.
	return s.questionList(ctx, `i.state = 'open' AND status = 'awaiting_payment'`)
}

// questionList reads every question that meets cond, oldest first, for the sets that stay
// small; listings people page through use Questions.
func (s *Store) questionList(ctx context.Context, cond string, args ...any) ([]experts.Question, error) {
	return queryAll(ctx, s.db, `SELECT `+questionColumns+` FROM `+questionTable+` WHERE `+cond+` ORDER BY id`, scanQuestion, args...)
}

// HoldPreimage implements experts.Store.
func (s *Store) HoldPreimage(ctx context.Context, id string) (string, error) {
	var p string
	err := s.db.QueryRow(ctx, `SELECT preimage FROM question_invoices WHERE question_id = ?`, id).Scan(&p)
	if errors.Is(err, sql.ErrNoRows) {
		return "", stipend.Errorf(stipend.ENOTFOUND, "question %s has no hold invoice", id)
	}
	return p, err
}

// holdDone moves the hold invoice of question id from state from to state to, once; a hold
// already in state to is left as it is. It runs more, in tx, when it moved.
// Returns ENOTFOUND and ECONFLICT.
func (s *Store) holdDone(ctx context.Context, id, from, to string, now time.Time, more func(*db.Tx, *experts.Question) error) (*experts.Question, error) {
	var out *experts.Question
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE question_invoices SET state = ?, updated_at = ? WHERE question_id = ? AND state = ?`,
			to, now.UnixMicro(), id, from)
		if err != nil {
			return err
		}
		q, _, err := s.questionWhere(ctx, tx, "id", id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			switch {
			case q.Invoice == nil:
				return stipend.Errorf(stipend.ENOTFOUND, "question %s has no hold invoice", id)
			case q.Invoice.State != to:
				return stipend.Errorf(stipend.ECONFLICT, "the hold invoice of question %s is %s, not %s", id, q.Invoice.State, from)
			}
			out = q
			return nil
		}
		if more != nil {
			if err := more(tx, q); err != nil {
				return err
			}
		}
		out, _, err = s.questionWhere(ctx, tx, "id", id)
		return err
	})
	return out, err
}

// SettledHold implements experts.Store.
func (s *Store) SettledHold(ctx context.Context, id string, amountPaid int64, now time.Time) (*experts.Question, error) {
	return s.holdDone(ctx, id, experts.HoldSettle, experts.HoldSettled, now, func(tx *db.Tx, q *experts.Question) error {
		if amountPaid < q.Price.Value {
			return fmt.Errorf("store: the hold invoice of question %s was settled for %d msat, less than its price %d", id, amountPaid, q.Price.Value)
		}
		entries, err := answerEntries(ctx, tx, q)
		if err != nil {
			return err
		}
		if over := amountPaid - q.Price.Value; over > 0 {
			// A payer who paid more than asked gets the rest as balance.
			entries = append(entries, ledger.Entry{Address: ledger.AccountAddress(q.AskerID), Asset: q.Price.Asset, Amount: over})
		}
		entries = append(entries, ledger.Entry{Address: ledger.ExternalAddress("lightning"), Asset: q.Price.Asset, Amount: -amountPaid})
		txKey := kindQuestionAnswer + ":" + q.ID
		if _, _, err := s.post(ctx, tx, ledger.NewTransaction{Key: txKey, Kind: kindQuestionAnswer, Memo: "answer to question " + q.ID,
			Metadata: map[string]string{"question_id": q.ID, "payment_hash": q.Invoice.Hash}, CreatedBy: q.AskerID, Entries: entries}, ""); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE question_invoices SET amount_paid_msat = ? WHERE question_id = ?`, amountPaid, id); err != nil {
			return err
		}
		return s.paidAnswer(ctx, tx, q, txKey, now)
	})
}

// CanceledHold implements experts.Store.
func (s *Store) CanceledHold(ctx context.Context, id string, now time.Time) (*experts.Question, error) {
	return s.holdDone(ctx, id, experts.HoldCancel, experts.HoldCanceled, now, nil)
}

// FailedHold implements experts.Store.
func (s *Store) FailedHold(ctx context.Context, id string, now time.Time) (*experts.Question, error) {
	return s.holdDone(ctx, id, experts.HoldSettle, experts.HoldFailed, now, nil)
}

// RateAnswer implements experts.Store.
func (s *Store) RateAnswer(ctx context.Context, id string, rating int, comment string) (*experts.Question, error) {
	var out *experts.Question
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE questions SET rating = ?, rating_comment = ? WHERE id = ? AND status = 'answered' AND rating = 0`,
			rating, comment, id)
		if err != nil {
			return err
		}
		q, _, err := s.questionWhere(ctx, tx, "id", id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			if q.Status != experts.Answered {
				return stipend.Errorf(stipend.ECONFLICT, "question %s is %s: only answers are rated", id, q.Status)
			}
			return stipend.Errorf(stipend.ECONFLICT, "question %s is rated already", id)
		}
		out = q
		return nil
	})
	return out, err
}

// recordDonation records the receipt of a charity's share of what source (a question, or a
// reply to a list question) paid.
func recordDonation(ctx context.Context, tx *db.Tx, charityID, donorID, questionID, source string, amount ledger.Amount, ledgerTx string, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO donations (id, charity_id, donor_id, question_id, source_id, asset, amount, ledger_tx, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, stipend.NewID("don"), charityID, donorID, questionID, source, string(amount.Asset),
		amount.Value, ledgerTx, now.UnixMicro())
	return err
}
