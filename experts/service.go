package experts

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/internal/jobs"
)

// JobExpire ends a question that is still open at its deadline.
const JobExpire = "question.expire"

// ExpireJob is the payload of a JobExpire job.
type ExpireJob struct {
	QuestionID string `json:"question_id"`
}

// Options configure a Service.
type Options struct {
	FeeBPS int64 // the platform fee taken from each answer's price, in basis points
	Logger *slog.Logger
	Now    func() time.Time
	// Lightning enables the Lightning escrow; nil when no node is configured.
	Lightning *Lightning
	// Card enables the card escrow; nil when Stripe is not configured.
	Card *Card
}

// Service runs expert questions.
type Service struct {
	store    Store
	accounts *accounts.Service
	opts     Options
	// asked tells the hold invoice watcher of each new Lightning question at once; the
	// watcher's rescan finds any it missed.
	asked chan Question
}

// NewService returns a Service.
func NewService(store Store, acc *accounts.Service, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Lightning = opts.Lightning.withDefaults()
	opts.Card = opts.Card.withDefaults()
	return &Service{store: store, accounts: acc, opts: opts, asked: make(chan Question, 256)}
}

func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// CreateCharity registers a charity. Only operators keep the registry.
// Returns EFORBIDDEN, EINVALID and ECONFLICT (the handle is taken).
func (s *Service) CreateCharity(ctx context.Context, actor *accounts.Principal, n NewCharity) (*Charity, error) {
	if err := accounts.Require(actor, accounts.ScopeAdmin); err != nil {
		return nil, err
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	return s.store.CreateCharity(ctx, &Charity{ID: stipend.NewID("chy"), AccountID: stipend.NewID("acct"), Handle: n.Handle, Name: n.Name, Website: n.Website,
		Receipt: n.Receipt, Destinations: n.Destinations, CreatedAt: s.now()})
}

// Charity returns a charity by id or handle, with what it has received. Charities are
// public. Returns ENOTFOUND.
func (s *Service) Charity(ctx context.Context, idOrHandle string) (*Charity, error) {
	return s.store.Charity(ctx, strings.ToLower(idOrHandle))
}

// Charities lists the registry. It is public.
func (s *Service) Charities(ctx context.Context) ([]Charity, error) { return s.store.Charities(ctx) }

// Donations lists a charity's receipts, newest first. They are public.
// Returns ENOTFOUND and EINVALID.
func (s *Service) Donations(ctx context.Context, idOrHandle, cursor string, limit int) (*Charity, []Donation, string, error) {
	c, err := s.Charity(ctx, idOrHandle)
	if err != nil {
		return nil, nil, "", err
	}
	ds, next, err := s.store.Donations(ctx, c.ID, cursor, limit)
	return c, ds, next, err
}

// SetProfile creates or replaces the caller's expert profile. Experts are people: the key must
// carry experts:answer and belong to a user account.
// Returns EFORBIDDEN, EINVALID and ENOTFOUND (the charity).
func (s *Service) SetProfile(ctx context.Context, actor *accounts.Principal, in ProfileInput) (*Profile, error) {
	if err := accounts.Require(actor, accounts.ScopeAnswer); err != nil {
		return nil, err
	}
	if actor.Account.Kind != accounts.KindUser {
		return nil, stipend.Errorf(stipend.EFORBIDDEN, "experts are people: an organisation cannot have an expert profile")
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	p := &Profile{AccountID: actor.Account.ID, Handle: actor.Account.Handle, Name: in.Name, Bio: in.Bio, Topics: in.Topics,
		Price: in.Price, AnswerWindow: in.AnswerWindow, Accepting: in.Accepting, CharityShare: in.CharityShare, UpdatedAt: s.now()}
	if in.Charity != "" {
		c, err := s.store.Charity(ctx, strings.ToLower(in.Charity))
		if err != nil {
			if stipend.ErrorCode(err) == stipend.ENOTFOUND {
				return nil, stipend.Errorf(stipend.EINVALID, "charity: no charity %q in the registry", clip(in.Charity))
			}
			return nil, err
		}
		p.CharityID = c.ID
	}
	return s.store.SaveProfile(ctx, p)
}

// Profile returns an expert's public profile by handle or account id. Returns ENOTFOUND.
func (s *Service) Profile(ctx context.Context, idOrHandle string) (*Profile, error) {
	return s.store.Profile(ctx, strings.ToLower(idOrHandle))
}

// Directory lists experts, public. Returns EINVALID.
func (s *Service) Directory(ctx context.Context, f Filter) ([]Profile, string, error) {
	f.Topic = strings.ToLower(f.Topic)
	return s.store.Profiles(ctx, f)
}

// Ask asks an expert a question at the expert's current price, which is fixed in the question
// with the platform fee and the charity share. With EscrowBalance (or "") the price is held on
// the caller's balance until the question ends, and the question is open at once. With
// EscrowLightning the question comes with a hold invoice of the price and opens when the
// caller pays it; with EscrowCard it comes with a Stripe PaymentIntent (manual capture) whose
// client secret the caller authorises with their card, and opens when Stripe reports the
// authorisation. With either, nothing is charged unless the question is answered. A request
// retried with the same idempotency key returns the question it made.
//
// Returns EFORBIDDEN, EINVALID, ENOTFOUND (no such expert), ECONFLICT (the expert takes no
// questions), EINSUFFICIENTFUNDS, EIDEMPOTENCYMISMATCH and, for a Lightning or card escrow,
// EUNAVAILABLE (no node, or Stripe not configured or unreachable).
func (s *Service) Ask(ctx context.Context, actor *accounts.Principal, expert, body, escrow, idempotencyKey string) (*Question, error) {
	if err := accounts.Require(actor, accounts.ScopeTransfers); err != nil {
		return nil, err
	}
	if idempotencyKey == "" {
		return nil, stipend.Errorf(stipend.EINVALID, "an idempotency key is required to ask a question")
	}
	if escrow == "" {
		escrow = EscrowBalance
	}
	if escrow != EscrowBalance && escrow != EscrowLightning && escrow != EscrowCard {
		return nil, stipend.Errorf(stipend.EINVALID, "escrow: must be balance, lightning or card")
	}
	if err := stipend.CheckText("question", strings.TrimSpace(body), MaxQuestion, false); err != nil {
		return nil, err
	}
	p, err := s.store.Profile(ctx, strings.ToLower(expert))
	if err != nil {
		return nil, err
	}
	if p.AccountID == actor.Account.ID {
		return nil, stipend.Errorf(stipend.EINVALID, "you cannot ask yourself a paid question")
	}
	if !p.Accepting {
		return nil, stipend.Errorf(stipend.ECONFLICT, "%s is not taking questions now", p.Handle)
	}
	now := s.now()
	q := &Question{ID: stipend.NewID("qst"), ExpertID: p.AccountID, AskerID: actor.Account.ID, Body: body,
		Price: p.Price, FeeBPS: s.opts.FeeBPS, CharityID: p.CharityID, CharityShare: p.CharityShare,
		Escrow: escrow, AnswerWindow: p.AnswerWindow, Status: Open, Deadline: now.Add(p.AnswerWindow), CreatedAt: now}
	key, hash := actor.Account.ID+":"+idempotencyKey, InputHash(p.AccountID, body, p.Price, escrow)
	switch escrow {
	case EscrowLightning:
		return s.askLightning(ctx, p, q, key, hash)
	case EscrowCard:
		return s.askCard(ctx, p, q, key, hash)
	}
	return s.store.Ask(ctx, q, key, hash)
}

// Question returns a question to its asker or its expert, or an operator.
// Returns ENOTFOUND and EFORBIDDEN.
func (s *Service) Question(ctx context.Context, actor *accounts.Principal, id string) (*Question, error) {
	q, err := s.store.Question(ctx, id)
	if err != nil {
		return nil, err
	}
	if actor.Account.ID != q.AskerID && actor.Account.ID != q.ExpertID && !actor.IsAdmin() {
		return nil, stipend.Errorf(stipend.EFORBIDDEN, "question %s is not yours to read", clip(id))
	}
	return q, nil
}

// Asked lists the questions the caller asked. Returns EINVALID.
func (s *Service) Asked(ctx context.Context, actor *accounts.Principal, status, cursor string, limit int) ([]Question, string, error) {
	if err := checkStatus(status); err != nil {
		return nil, "", err
	}
	return s.store.Questions(ctx, QuestionFilter{AskerID: actor.Account.ID, Status: status, Cursor: cursor, Limit: limit})
}

// Inbox lists the questions asked of the caller. Returns EFORBIDDEN and EINVALID.
func (s *Service) Inbox(ctx context.Context, actor *accounts.Principal, status, cursor string, limit int) ([]Question, string, error) {
	if err := accounts.Require(actor, accounts.ScopeAnswer); err != nil {
		return nil, "", err
	}
	if err := checkStatus(status); err != nil {
		return nil, "", err
	}
	return s.store.Questions(ctx, QuestionFilter{ExpertID: actor.Account.ID, Status: status, Paid: true, Cursor: cursor, Limit: limit})
}

func checkStatus(status string) error {
	switch status {
	case "", AwaitingPayment, Open, Answered, Declined, Expired, Unpaid:
		return nil
	}
	return stipend.Errorf(stipend.EINVALID, "status: must be awaiting_payment, open, answered, declined, expired or unpaid")
}

// forExpert returns an open question the caller may act on as its expert.
func (s *Service) forExpert(ctx context.Context, actor *accounts.Principal, id string) (*Question, error) {
	if err := accounts.Require(actor, accounts.ScopeAnswer); err != nil {
		return nil, err
	}
	q, err := s.store.Question(ctx, id)
	if err != nil {
		return nil, err
	}
	if q.ExpertID != actor.Account.ID {
		return nil, stipend.Errorf(stipend.EFORBIDDEN, "only the expert asked can answer or decline question %s", clip(id))
	}
	return q, nil
}

// Answer answers a question as its expert before its deadline: the escrow is captured and
// split into the platform fee, the charity's share and the expert's earnings.
// Returns EFORBIDDEN, EINVALID, ENOTFOUND, ECONFLICT (not paid yet, answered or closed
// already, the deadline has passed, or a held payment is about to expire) and EUNAVAILABLE
// (the Lightning node of a held payment cannot be reached).
func (s *Service) Answer(ctx context.Context, actor *accounts.Principal, id, answer string) (*Question, error) {
	q, err := s.forExpert(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if err := stipend.CheckText("answer", strings.TrimSpace(answer), MaxAnswer, false); err != nil {
		return nil, err
	}
	now := s.now()
	if q.Status == Open && !now.Before(q.Deadline) {
		return nil, stipend.Errorf(stipend.ECONFLICT, "question %s passed its deadline at %s; the asker has been refunded", q.ID, q.Deadline.Format(time.RFC3339))
	}
	if q.Status == AwaitingPayment {
		return nil, stipend.Errorf(stipend.ECONFLICT, "question %s is not paid yet", q.ID)
	}
	if q.Status == Open && q.Escrow == EscrowLightning {
		// An answer is worth taking only while the payment can still be settled.
		near, err := s.htlcNearExpiry(ctx, q)
		if err != nil {
			return nil, err
		}
		if near {
			return nil, stipend.Errorf(stipend.ECONFLICT, "question %s can no longer be answered: its payment must go back to the asker now", q.ID)
		}
	}
	out, err := s.store.AnswerQuestion(ctx, q.ID, answer, now)
	if err != nil {
		return nil, err
	}
	return s.collect(ctx, out), nil
}

// collect takes the payment of an answered question from an escrow held outside the ledger
// (a hold invoice, a card authorisation) at once; the job scheduled with the answer finishes
// what fails here. A balance escrow was captured with the answer.
func (s *Service) collect(ctx context.Context, q *Question) *Question {
	switch q.Escrow {
	case EscrowLightning:
		return s.atOnce(ctx, q, "settling a hold invoice", s.settleHold)
	case EscrowCard:
		return s.atOnce(ctx, q, "capturing a card payment", s.captureCard)
	}
	return q
}

// release returns the payment of a question that ended unanswered from an escrow held outside
// the ledger at once; see collect. A balance hold was released when the question ended.
func (s *Service) release(ctx context.Context, q *Question) *Question {
	switch q.Escrow {
	case EscrowLightning:
		return s.atOnce(ctx, q, "cancelling a hold invoice", s.cancelHold)
	case EscrowCard:
		return s.atOnce(ctx, q, "releasing a card payment", s.cancelCard)
	}
	return q
}

// atOnce runs step, the settlement or release of q's escrow, at once, so that nobody waits
// for the job scheduled with the decision, and returns the question as it then is. A failure
// is logged (what names the step) and left to that job; a step that waits for Stripe to
// confirm it is not a failure.
func (s *Service) atOnce(ctx context.Context, q *Question, what string, step func(context.Context, string) (*Question, error)) *Question {
	out, err := step(ctx, q.ID)
	if err != nil {
		if !errors.Is(err, errAwaitingStripe) {
			s.opts.Logger.Warn(what+"; the job will retry", "question_id", q.ID, "error", err)
		}
		return q
	}
	return out
}

// Decline turns a question down as its expert; the escrow returns to the asker.
// Returns EFORBIDDEN, EINVALID, ENOTFOUND and ECONFLICT (not open).
func (s *Service) Decline(ctx context.Context, actor *accounts.Principal, id, reason string) (*Question, error) {
	q, err := s.forExpert(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if err := stipend.CheckText("reason", reason, maxReason, true); err != nil {
		return nil, err
	}
	if q.Status == AwaitingPayment {
		return nil, stipend.Errorf(stipend.ECONFLICT, "question %s is not paid yet", q.ID)
	}
	out, err := s.store.CloseQuestion(ctx, q.ID, Declined, reason, s.now())
	if err != nil {
		return nil, err
	}
	return s.release(ctx, out), nil
}

// Rate records the asker's rating, 1 to 5, of an answer.
// Returns EFORBIDDEN, EINVALID, ENOTFOUND and ECONFLICT (not answered, or rated already).
func (s *Service) Rate(ctx context.Context, actor *accounts.Principal, id string, rating int, comment string) (*Question, error) {
	if err := accounts.Require(actor, accounts.ScopeTransfers); err != nil {
		return nil, err
	}
	if rating < 1 || rating > 5 {
		return nil, stipend.Errorf(stipend.EINVALID, "rating: must be 1 to 5")
	}
	if err := stipend.CheckText("comment", comment, maxComment, true); err != nil {
		return nil, err
	}
	q, err := s.store.Question(ctx, id)
	if err != nil {
		return nil, err
	}
	if q.AskerID != actor.Account.ID {
		return nil, stipend.Errorf(stipend.EFORBIDDEN, "only the asker rates the answer to question %s", clip(id))
	}
	return s.store.RateAnswer(ctx, q.ID, rating, comment)
}

// HandleExpire is the JobExpire handler: a question still open at its deadline ends, and its
// escrow returns to the asker. A question that ended otherwise is left as it is. A question
// held by a hold invoice also ends early if the chain comes within Stipend's margin of its
// HTLC's expiry, which blocks faster than expected can do; the job looks at the height every
// HeightCheck until the deadline.
func (s *Service) HandleExpire(ctx context.Context, j jobs.Job) error {
	var p ExpireJob
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return err
	}
	q, err := s.store.Question(ctx, p.QuestionID)
	if err != nil {
		return err
	}
	if q.Status != Open {
		return nil
	}
	if wait := q.Deadline.Sub(s.now()); wait > 0 {
		if q.Escrow != EscrowLightning || s.opts.Lightning == nil {
			return jobs.Snooze(wait)
		}
		near, err := s.htlcNearExpiry(ctx, q)
		if err != nil {
			s.opts.Logger.Warn("reading the node's height for a held question", "question_id", q.ID, "error", err)
		}
		if !near {
			return jobs.Snooze(min(wait, s.opts.Lightning.HeightCheck))
		}
	}
	out, err := s.store.CloseQuestion(ctx, q.ID, Expired, "", s.now())
	if err != nil {
		if stipend.ErrorCode(err) == stipend.ECONFLICT {
			return nil
		}
		return err
	}
	s.release(ctx, out)
	return nil
}
