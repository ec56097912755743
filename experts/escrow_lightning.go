package experts

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning"
)

// askLightning asks q with a hold invoice for its price. The invoice is made before the
// question is stored: an invoice whose question was never stored was given to nobody, and it
// is cancelled at once.
func (s *Service) askLightning(ctx context.Context, p *Profile, q *Question, key, hash string) (*Question, error) {
	l := s.opts.Lightning
	if l == nil {
		return nil, stipend.Errorf(stipend.EUNAVAILABLE, "Lightning escrow is not configured on this server; ask with escrow balance")
	}
	if q.Price.Asset != ledger.BTC {
		return nil, stipend.Errorf(stipend.EINVALID, "escrow: a hold invoice pays BTC, and %s's price is in %s; ask with escrow balance", p.Handle, q.Price.Asset)
	}
	if q.AnswerWindow > l.MaxWindow() {
		return nil, stipend.Errorf(stipend.EINVALID, "escrow: %s answers within %s, longer than a hold invoice can safely be held (%s); ask with escrow balance",
			p.Handle, q.AnswerWindow, l.MaxWindow())
	}
	prev, prevHash, err := s.store.QuestionByKey(ctx, key)
	switch {
	case err == nil && prevHash != hash:
		return nil, stipend.Errorf(stipend.EIDEMPOTENCYMISMATCH, "this idempotency key was used to ask a different question")
	case err == nil:
		return prev, nil
	case stipend.ErrorCode(err) != stipend.ENOTFOUND:
		return nil, err
	}
	preimage, payHash, err := lightning.NewPreimage()
	if err != nil {
		return nil, err
	}
	inv, err := l.Node.AddHoldInvoice(ctx, lightning.HoldInvoiceRequest{Hash: payHash, AmountMsat: q.Price.Value,
		Memo: "Question to " + p.Handle + " on Stipend", Expiry: l.InvoiceExpiry, CltvExpiry: l.CltvExpiry})
	if err != nil {
		return nil, err
	}
	q.Status = AwaitingPayment
	// Until the question opens, its deadline is the latest it could be: paid at the last moment.
	q.Deadline = inv.ExpiresAt.UTC().Truncate(time.Microsecond).Add(q.AnswerWindow)
	q.Invoice = &HoldInvoice{PaymentRequest: inv.PaymentRequest, Hash: payHash, AmountMsat: q.Price.Value, CltvExpiry: l.CltvExpiry,
		ExpiresAt: inv.ExpiresAt.UTC().Truncate(time.Microsecond), State: HoldOpen}
	out, err := s.store.AskLightning(ctx, q, preimage, key, hash)
	if err != nil || out.ID != q.ID {
		// Nobody was given this invoice: a concurrent request with the key won, or storing failed.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if cerr := l.Node.CancelInvoice(cctx, payHash); cerr != nil {
			s.opts.Logger.Warn("cancelling an unused hold invoice", "payment_hash", payHash, "error", cerr)
		}
		return out, err
	}
	select {
	case s.asked <- *out:
	default: // the watcher's rescan finds it
	}
	return out, nil
}

// WatchHolds follows the hold invoices of the questions awaiting payment until ctx ends:
// when the payer's HTLC is accepted the question opens, and when the invoice is cancelled
// (lnd cancels an invoice that expires unpaid) it ends unpaid. Opening is a conditional update,
// so that several servers watching one node open each question once.
func (s *Service) WatchHolds(ctx context.Context) error {
	l := s.opts.Lightning
	if l == nil {
		return nil
	}
	var (
		mu       sync.Mutex
		watching = map[string]bool{}
		wg       sync.WaitGroup
	)
	defer wg.Wait()
	follow := func(q Question) {
		mu.Lock()
		defer mu.Unlock()
		if watching[q.ID] || q.Invoice == nil {
			return
		}
		watching[q.ID] = true
		wg.Go(func() {
			s.followHold(ctx, q)
			mu.Lock()
			delete(watching, q.ID)
			mu.Unlock()
		})
	}
	rescan := func() {
		qs, err := s.store.AwaitingPayment(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.opts.Logger.Warn("listing questions awaiting payment", "error", err)
			}
			return
		}
		for _, q := range qs {
			follow(q)
		}
	}
	rescan()
	tick := time.NewTicker(l.Rescan)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case q := <-s.asked:
			follow(q)
		case <-tick.C:
			rescan()
		}
	}
}

// followHold subscribes to one question's hold invoice until it is accepted or cancelled. A
// broken subscription ends it, and so does followLimit, since a stream can stall without
// breaking (lnd sends nothing at all for a hash it does not know); the next rescan starts
// another.
func (s *Service) followHold(ctx context.Context, q Question) {
	ctx, cancel := context.WithTimeout(ctx, followLimit)
	defer cancel()
	updates, _, err := s.opts.Lightning.Node.SubscribeInvoice(ctx, q.Invoice.Hash)
	if err != nil {
		s.opts.Logger.Warn("subscribing to a hold invoice", "question_id", q.ID, "error", err)
		return
	}
	for u := range updates {
		switch u.State {
		case lightning.InvoiceAccepted:
			if err := s.openPaid(ctx, q.ID, u); err != nil {
				s.opts.Logger.Warn("opening a paid question; the next rescan tries again", "question_id", q.ID, "error", err)
			}
			return
		case lightning.InvoiceCanceled:
			s.closeUnpaid(ctx, q.ID)
			return
		case lightning.InvoiceSettled:
			s.opts.Logger.Error("a hold invoice was settled before its question opened", "question_id", q.ID)
			return
		}
	}
}

// followLimit bounds one subscription to a hold invoice; see followHold.
const followLimit = 5 * time.Minute

// openPaid opens a question whose HTLC the node accepted. Its deadline is one answer window
// away, and never later than the HTLC can safely be held from the current height: a payment
// noticed late (after a restart) gets what is left. An HTLC with no time left is failed back.
// A question no longer awaiting payment is left as it is. An error means the question could
// not be opened yet and the caller should try again.
func (s *Service) openPaid(ctx context.Context, id string, u lightning.InvoiceUpdate) error {
	info, err := s.opts.Lightning.Node.Info(ctx)
	if err != nil {
		return err
	}
	q, err := s.store.Question(ctx, id)
	if err != nil {
		return err
	}
	if q.Status != AwaitingPayment {
		return nil
	}
	now := s.now()
	safe := u.HoldLeft(info.BlockHeight)
	if safe <= 0 {
		s.opts.Logger.Warn("a paid question's HTLC is too close to its expiry to be held; failing it back", "question_id", id)
		s.closeUnpaid(ctx, id)
		return nil
	}
	deadline := now.Add(min(q.AnswerWindow, safe))
	_, err = s.store.OpenQuestion(ctx, id, HeldHTLC{AcceptHeight: u.AcceptHeight, Expiry: u.HTLCExpiry, AmountMsat: u.AmountPaidMsat}, deadline, now)
	switch stipend.ErrorCode(err) {
	case "":
		s.opts.Logger.Info("question paid by hold invoice and open", "question_id", id, "deadline", deadline)
	case stipend.ECONFLICT:
		return nil // opened or closed meanwhile, by another watcher or the payment check
	default:
		return err
	}
	return nil
}

// closeUnpaid ends a question whose escrow will not be paid, and cancels its hold invoice or
// card payment.
func (s *Service) closeUnpaid(ctx context.Context, id string) {
	q, err := s.store.CloseQuestion(ctx, id, Unpaid, "", s.now())
	if err != nil {
		if stipend.ErrorCode(err) != stipend.ECONFLICT {
			s.opts.Logger.Warn("ending an unpaid question", "question_id", id, "error", err)
		}
		return
	}
	s.release(ctx, q)
}

// htlcNearExpiry reports whether an open question's HTLC has come within Stipend's margin of
// its expiry. Returns EUNAVAILABLE when the node cannot tell its height.
func (s *Service) htlcNearExpiry(ctx context.Context, q *Question) (bool, error) {
	if q.Invoice == nil || q.Invoice.HTLCExpiry == 0 {
		return false, nil
	}
	if s.opts.Lightning == nil {
		return false, stipend.Errorf(stipend.EUNAVAILABLE, "Lightning is not configured on this server")
	}
	info, err := s.opts.Lightning.Node.Info(ctx)
	if err != nil {
		return false, err
	}
	u := lightning.InvoiceUpdate{HTLCExpiry: q.Invoice.HTLCExpiry}
	return info.BlockHeight >= u.CancelByHeight(), nil
}

// settleHold settles the hold invoice of an answered question and credits the ledger. Each
// step may be repeated: lnd settles an invoice once, and the store credits it once.
func (s *Service) settleHold(ctx context.Context, id string) (*Question, error) {
	q, err := s.store.Question(ctx, id)
	if err != nil {
		return nil, err
	}
	if q.Invoice == nil || q.Invoice.State != HoldSettle {
		return q, nil
	}
	if s.opts.Lightning == nil {
		return nil, stipend.Errorf(stipend.EUNAVAILABLE, "Lightning is not configured on this server")
	}
	node := s.opts.Lightning.Node
	preimage, err := s.store.HoldPreimage(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := node.SettleInvoice(ctx, preimage); err != nil && stipend.ErrorCode(err) != stipend.ECONFLICT {
		return nil, err
	}
	// Whether it settled now or before, the node says what was received; a conflict that is
	// not a settled invoice is a refusal.
	u, err := node.LookupInvoice(ctx, q.Invoice.Hash)
	if err != nil {
		return nil, err
	}
	if u.State != lightning.InvoiceSettled {
		s.opts.Logger.Error("the node refused to settle the hold invoice of an answered question; an operator must look",
			"question_id", id, "payment_hash", q.Invoice.Hash, "invoice_state", u.State)
		return s.store.FailedHold(ctx, id, s.now())
	}
	return s.store.SettledHold(ctx, id, u.AmountPaidMsat, s.now())
}

// cancelHold cancels the hold invoice of a question that ended unanswered, so that the
// payer's HTLC fails back. An invoice the node no longer knows holds nothing.
func (s *Service) cancelHold(ctx context.Context, id string) (*Question, error) {
	q, err := s.store.Question(ctx, id)
	if err != nil {
		return nil, err
	}
	if q.Invoice == nil || q.Invoice.State != HoldCancel {
		return q, nil
	}
	if s.opts.Lightning == nil {
		return nil, stipend.Errorf(stipend.EUNAVAILABLE, "Lightning is not configured on this server")
	}
	switch err := s.opts.Lightning.Node.CancelInvoice(ctx, q.Invoice.Hash); stipend.ErrorCode(err) {
	case "", stipend.ENOTFOUND:
	case stipend.ECONFLICT:
		// Only a settled invoice cannot be cancelled, and Stipend settles only answered
		// questions: this one was paid without being answered.
		s.opts.Logger.Error("the hold invoice of an unanswered question is settled at the node; an operator must look",
			"question_id", id, "payment_hash", q.Invoice.Hash)
		return q, nil
	default:
		return nil, err
	}
	return s.store.CanceledHold(ctx, id, s.now())
}

func escrowJob(j jobs.Job) (string, error) {
	var p EscrowJob
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return "", err
	}
	return p.QuestionID, nil
}

// HandleSettleHold is the JobSettleHold handler.
func (s *Service) HandleSettleHold(ctx context.Context, j jobs.Job) error {
	id, err := escrowJob(j)
	if err != nil {
		return err
	}
	_, err = s.settleHold(ctx, id)
	return err
}

// HandleCancelHold is the JobCancelHold handler.
func (s *Service) HandleCancelHold(ctx context.Context, j jobs.Job) error {
	id, err := escrowJob(j)
	if err != nil {
		return err
	}
	_, err = s.cancelHold(ctx, id)
	return err
}

// HandlePaymentDue is the JobPaymentDue handler, due when a question's hold invoice expires.
// A question still awaiting payment is opened if the node holds its HTLC (the watcher missed
// it), and ends unpaid otherwise.
func (s *Service) HandlePaymentDue(ctx context.Context, j jobs.Job) error {
	id, err := escrowJob(j)
	if err != nil {
		return err
	}
	q, err := s.store.Question(ctx, id)
	if err != nil {
		return err
	}
	if q.Status != AwaitingPayment || q.Invoice == nil {
		return nil
	}
	if wait := q.Invoice.ExpiresAt.Sub(s.now()); wait > 0 {
		return jobs.Snooze(wait)
	}
	if s.opts.Lightning == nil {
		return stipend.Errorf(stipend.EUNAVAILABLE, "Lightning is not configured on this server")
	}
	u, err := s.opts.Lightning.Node.LookupInvoice(ctx, q.Invoice.Hash)
	switch {
	case err == nil && u.State == lightning.InvoiceAccepted:
		return s.openPaid(ctx, id, *u)
	case err != nil && stipend.ErrorCode(err) != stipend.ENOTFOUND:
		return err
	}
	s.closeUnpaid(ctx, id)
	return nil
}
