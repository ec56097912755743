package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/stripe"
)

// AskCard implements experts.Store.
func (s *Store) AskCard(ctx context.Context, q *experts.Question, key, inputHash string) (*experts.Question, error) {
	if q.Card == nil {
		return nil, stipend.Errorf(stipend.EINVALID, "a question with card escrow needs its card escrow")
	}
	return s.ask(ctx, q, key, inputHash, func(*db.Tx) error { return nil }, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO question_card_escrows (question_id, payment_intent, state, pay_by, capture_by,
			amount_captured, updated_at) VALUES (?, NULL, ?, ?, 0, 0, ?)`, q.ID, experts.CardPending, q.Card.PayBy.UnixMicro(),
			q.CreatedAt.UnixMicro()); err != nil {
			return err
		}
		_, _, err := enqueue(ctx, tx, s.now().UTC(), jobs.NewJob{Kind: experts.JobCardPaymentDue, Payload: experts.EscrowJob{QuestionID: q.ID},
			UniqueKey: experts.JobCardPaymentDue + ":" + q.ID, RunAt: q.Card.PayBy, MaxAttempts: 1000})
		return err
	})
}

// SetCardIntent implements experts.Store.
func (s *Store) SetCardIntent(ctx context.Context, id, paymentIntent string) error {
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE question_card_escrows SET payment_intent = ? WHERE question_id = ? AND payment_intent IS NULL`,
			paymentIntent, id)
		if db.IsUniqueViolation(err) {
			return stipend.Errorf(stipend.ECONFLICT, "PaymentIntent %s escrows another question", clipText(paymentIntent, 64))
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var cur sql.NullString
		err = tx.QueryRow(ctx, `SELECT payment_intent FROM question_card_escrows WHERE question_id = ?`, id).Scan(&cur)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return stipend.Errorf(stipend.ENOTFOUND, "question %s is not paid by card", id)
		case err != nil:
			return err
		case cur.String != paymentIntent:
			return stipend.Errorf(stipend.ECONFLICT, "question %s is paid by another PaymentIntent", id)
		}
		return nil
	})
}

// cardQuestion reads a question with card escrow for a change by event p: ENOTFOUND when it
// has none, ECONFLICT when p names another intent than the one recorded.
func (s *Store) cardQuestion(ctx context.Context, tx *db.Tx, id, paymentIntent string) (*experts.Question, error) {
	q, _, err := s.questionWhere(ctx, tx, "id", id)
	if err != nil {
		return nil, err
	}
	if q.Card == nil {
		return nil, stipend.Errorf(stipend.ENOTFOUND, "question %s is not paid by card", id)
	}
	if paymentIntent != "" && q.Card.PaymentIntent != "" && q.Card.PaymentIntent != paymentIntent {
		return nil, stipend.Errorf(stipend.ECONFLICT, "question %s is paid by another PaymentIntent than %s", id, clipText(paymentIntent, 64))
	}
	if paymentIntent != "" && q.Card.PaymentIntent == "" {
		// The intent is about to be recorded: one that escrows another question (its metadata
		// edited at Stripe) must be refused here, since a unique violation would abort the
		// transaction on PostgreSQL.
		var other string
		err := tx.QueryRow(ctx, `SELECT question_id FROM question_card_escrows WHERE payment_intent = ?`, paymentIntent).Scan(&other)
		switch {
		case err == nil:
			return nil, stipend.Errorf(stipend.ECONFLICT, "PaymentIntent %s escrows question %s, not %s", clipText(paymentIntent, 64), other, id)
		case !errors.Is(err, sql.ErrNoRows):
			return nil, err
		}
	}
	return q, nil
}

// moveCard moves the card escrow of question id from state from to state to, setting the
// intent when it is not recorded yet. It reports false when the escrow was not in state from.
func moveCard(ctx context.Context, tx *db.Tx, id, from, to, paymentIntent string, now time.Time) (bool, error) {
	res, err := tx.Exec(ctx, `UPDATE question_card_escrows SET state = ?, payment_intent = COALESCE(payment_intent, ?), updated_at = ?
		WHERE question_id = ? AND state = ?`, to, nullString(paymentIntent), now.UnixMicro(), id, from)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// inTxQuestion runs fn in a transaction and returns the question it returns.
func (s *Store) inTxQuestion(ctx context.Context, fn func(*db.Tx) (*experts.Question, error)) (*experts.Question, error) {
	var out *experts.Question
	err := s.db.InTx(ctx, func(tx *db.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	return out, err
}

// OpenCardQuestion implements experts.Store.
func (s *Store) OpenCardQuestion(ctx context.Context, id string, p stripe.EscrowPayment) (*experts.Question, error) {
	return s.inTxQuestion(ctx, func(tx *db.Tx) (*experts.Question, error) { return s.openCard(ctx, tx, id, p) })
}

func (s *Store) openCard(ctx context.Context, tx *db.Tx, id string, p stripe.EscrowPayment) (*experts.Question, error) {
	q, err := s.cardQuestion(ctx, tx, id, p.PaymentIntent)
	if err != nil {
		return nil, err
	}
	if p.Amount != q.Price {
		return nil, stipend.Errorf(stipend.ECONFLICT, "question %s costs %d %s, and %d %s was authorised", id, q.Price.Value, q.Price.Asset,
			p.Amount.Value, p.Amount.Asset)
	}
	now := p.At.UTC().Truncate(time.Microsecond)
	deadline, ok := experts.CardDeadline(q.AnswerWindow, p.CaptureBy, now)
	if !ok {
		// Reported too late to be held for an answer: the question ends unpaid and the
		// authorisation is released.
		if _, err := s.endQuestion(ctx, tx, id, experts.AwaitingPayment, experts.Unpaid, now, false); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `UPDATE question_card_escrows SET payment_intent = COALESCE(payment_intent, ?) WHERE question_id = ?`,
			p.PaymentIntent, id); err != nil {
			return nil, err
		}
		if err := s.decideEscrow(ctx, tx, cardEscrows, id, []string{experts.CardPending}, experts.CardCancel, experts.JobCancelCard, now); err != nil {
			return nil, err
		}
		out, _, err := s.questionWhere(ctx, tx, "id", id)
		return out, err
	}
	res, err := tx.Exec(ctx, `UPDATE questions SET status = 'open', deadline = ? WHERE id = ? AND status = 'awaiting_payment'`,
		deadline.UnixMicro(), id)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, err
	} else if n == 0 {
		return nil, stipend.Errorf(stipend.ECONFLICT, "question %s is %s, not awaiting payment", id, q.Status)
	}
	res, err = tx.Exec(ctx, `UPDATE question_card_escrows SET state = 'authorized', payment_intent = ?, capture_by = ?, updated_at = ?
		WHERE question_id = ? AND state = 'pending'`, p.PaymentIntent, p.CaptureBy.UnixMicro(), now.UnixMicro(), id)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, err
	} else if n != 1 {
		return nil, errors.New("store: a question awaiting payment by card has no pending card escrow")
	}
	if _, _, err := enqueue(ctx, tx, now, jobs.NewJob{Kind: experts.JobExpire, Payload: experts.ExpireJob{QuestionID: id},
		UniqueKey: experts.JobExpire + ":" + id, MaxAttempts: 1000}); err != nil {
		return nil, err
	}
	out, _, err := s.questionWhere(ctx, tx, "id", id)
	return out, err
}

// CapturedCard implements experts.Store.
func (s *Store) CapturedCard(ctx context.Context, id string, p stripe.EscrowPayment) (*experts.Question, error) {
	return s.inTxQuestion(ctx, func(tx *db.Tx) (*experts.Question, error) { return s.capturedCard(ctx, tx, id, p) })
}

func (s *Store) capturedCard(ctx context.Context, tx *db.Tx, id string, p stripe.EscrowPayment) (*experts.Question, error) {
	q, err := s.cardQuestion(ctx, tx, id, p.PaymentIntent)
	if err != nil {
		return nil, err
	}
	switch {
	case q.Card.State == experts.CardCaptured:
		return q, nil
	case q.Card.State != experts.CardCapture:
		return nil, stipend.Errorf(stipend.ECONFLICT, "the card payment of question %s is %s, not to be captured", id, q.Card.State)
	case p.Amount != q.Price:
		return nil, stipend.Errorf(stipend.ECONFLICT, "question %s costs %d %s, and %d %s was captured", id, q.Price.Value, q.Price.Asset,
			p.Amount.Value, p.Amount.Asset)
	}
	now := p.At.UTC().Truncate(time.Microsecond)
	moved, err := moveCard(ctx, tx, id, experts.CardCapture, experts.CardCaptured, p.PaymentIntent, now)
	if err != nil {
		return nil, err
	}
	if !moved {
		out, _, err := s.questionWhere(ctx, tx, "id", id) // recorded by a concurrent capture
		return out, err
	}
	if _, err := tx.Exec(ctx, `UPDATE question_card_escrows SET amount_captured = ? WHERE question_id = ?`, p.Amount.Value, id); err != nil {
		return nil, err
	}
	entries, err := answerEntries(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	entries = append(entries, ledger.Entry{Address: ledger.ExternalAddress("stripe"), Asset: q.Price.Asset, Amount: -q.Price.Value})
	txKey := kindQuestionAnswer + ":" + q.ID
	if _, _, err := s.post(ctx, tx, ledger.NewTransaction{Key: txKey, Kind: kindQuestionAnswer, Memo: "answer to question " + q.ID,
		Metadata: map[string]string{"question_id": q.ID, "payment_intent": p.PaymentIntent}, CreatedBy: q.AskerID, Entries: entries}, ""); err != nil {
		return nil, err
	}
	if err := s.paidAnswer(ctx, tx, q, txKey, now); err != nil {
		return nil, err
	}
	out, _, err := s.questionWhere(ctx, tx, "id", id)
	return out, err
}

// CanceledCard implements experts.Store.
func (s *Store) CanceledCard(ctx context.Context, id string, now time.Time) (*experts.Question, error) {
	return s.inTxQuestion(ctx, func(tx *db.Tx) (*experts.Question, error) { return s.canceledCard(ctx, tx, id, "", now) })
}

// canceledCard records the release of a question's card payment (by paymentIntent, when
// known). A payment Stripe released on its own ends its question as well.
func (s *Store) canceledCard(ctx context.Context, tx *db.Tx, id, paymentIntent string, now time.Time) (*experts.Question, error) {
	q, err := s.cardQuestion(ctx, tx, id, paymentIntent)
	if err != nil {
		return nil, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	from := q.Card.State
	switch from {
	case experts.CardCanceled:
		return q, nil
	case experts.CardCancel:
	case experts.CardAuthorized:
		// Released without Stipend asking (the authorisation lapsed, or someone cancelled it
		// in Stripe's dashboard): the question cannot be paid any more.
		if _, err := s.endQuestion(ctx, tx, id, experts.Open, experts.Expired, now, false); err != nil {
			return nil, err
		}
	case experts.CardPending:
		if _, err := s.endQuestion(ctx, tx, id, experts.AwaitingPayment, experts.Unpaid, now, false); err != nil {
			return nil, err
		}
	default:
		return nil, stipend.Errorf(stipend.ECONFLICT, "the card payment of question %s is %s: it cannot be released", id, from)
	}
	moved, err := moveCard(ctx, tx, id, from, experts.CardCanceled, paymentIntent, now)
	if err != nil {
		return nil, err
	}
	if !moved {
		// Another report of the same release (the job's and Stripe's event) got there first.
		out, _, err := s.questionWhere(ctx, tx, "id", id)
		if err != nil {
			return nil, err
		}
		if out.Card.State != experts.CardCanceled {
			return nil, stipend.Errorf(stipend.ECONFLICT, "the card payment of question %s changed while it was released", id)
		}
		return out, nil
	}
	out, _, err := s.questionWhere(ctx, tx, "id", id)
	return out, err
}

// FailedCard implements experts.Store.
func (s *Store) FailedCard(ctx context.Context, id string, now time.Time) (*experts.Question, error) {
	return s.inTxQuestion(ctx, func(tx *db.Tx) (*experts.Question, error) {
		q, err := s.cardQuestion(ctx, tx, id, "")
		if err != nil {
			return nil, err
		}
		moved, err := moveCard(ctx, tx, id, experts.CardCapture, experts.CardFailed, "", now.UTC())
		if err != nil {
			return nil, err
		}
		if !moved {
			return nil, stipend.Errorf(stipend.ECONFLICT, "the card payment of question %s is %s, not to be captured", id, q.Card.State)
		}
		out, _, err := s.questionWhere(ctx, tx, "id", id)
		return out, err
	})
}
