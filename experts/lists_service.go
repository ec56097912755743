package experts

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/internal/jobs"
)

// JobListExpire ends a list question that is still open at its deadline.
const JobListExpire = "list_question.expire"

// CreateList creates a list of experts, named by handle or account id. Only operators curate
// lists. Returns EFORBIDDEN, EINVALID, ECONFLICT (the handle is taken) and ENOTFOUND (a member
// is no expert).
func (s *Service) CreateList(ctx context.Context, actor *accounts.Principal, n NewList) (*List, error) {
	if err := accounts.Require(actor, accounts.ScopeAdmin); err != nil {
		return nil, err
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	l := &List{ID: stipend.NewID("lst"), Handle: n.Handle, Name: n.Name, Description: n.Description, Price: n.Price,
		AnswerWindow: n.AnswerWindow, CreatedAt: s.now()}
	for _, m := range n.Members {
		p, err := s.store.Profile(ctx, strings.ToLower(m))
		if err != nil {
			return nil, err
		}
		if !slices.Contains(l.Members, p.AccountID) {
			l.Members = append(l.Members, p.AccountID)
		}
	}
	return s.store.CreateList(ctx, l)
}

// List returns a list, public. Returns ENOTFOUND.
func (s *Service) List(ctx context.Context, idOrHandle string) (*List, error) {
	return s.store.List(ctx, strings.ToLower(idOrHandle))
}

// Lists returns every list, public.
func (s *Service) Lists(ctx context.Context) ([]List, error) { return s.store.Lists(ctx) }

// AskList asks every member of a list one question and buys responses replies at the list's
// price each, held on the caller's balance until the question ends.
// Returns EFORBIDDEN, EINVALID, ENOTFOUND, EINSUFFICIENTFUNDS and EIDEMPOTENCYMISMATCH.
func (s *Service) AskList(ctx context.Context, actor *accounts.Principal, list, body string, responses int, idempotencyKey string) (*ListQuestion, error) {
	if err := accounts.Require(actor, accounts.ScopeTransfers); err != nil {
		return nil, err
	}
	if idempotencyKey == "" {
		return nil, stipend.Errorf(stipend.EINVALID, "an idempotency key is required to ask a question")
	}
	if err := stipend.CheckText("question", strings.TrimSpace(body), MaxQuestion, false); err != nil {
		return nil, err
	}
	l, err := s.store.List(ctx, strings.ToLower(list))
	if err != nil {
		return nil, err
	}
	if most := min(len(l.Members), MaxResponses); responses < 1 || responses > most {
		return nil, stipend.Errorf(stipend.EINVALID, "responses: between 1 and %d, the members of %s", most, l.Handle)
	}
	now := s.now()
	q := &ListQuestion{ID: stipend.NewID("lqs"), ListID: l.ID, AskerID: actor.Account.ID, Body: body, Price: l.Price,
		FeeBPS: s.opts.FeeBPS, Responses: responses, Status: Open, Deadline: now.Add(l.AnswerWindow), CreatedAt: now}
	hash := InputHash(l.ID, body+"\x00"+strconv.Itoa(responses), l.Price, EscrowBalance)
	return s.store.AskList(ctx, q, actor.Account.ID+":"+idempotencyKey, hash)
}

// ListQuestion returns a list question with its replies to its asker, the members of its list
// and operators. Returns ENOTFOUND and EFORBIDDEN.
func (s *Service) ListQuestion(ctx context.Context, actor *accounts.Principal, id string) (*ListQuestion, error) {
	q, err := s.store.ListQuestion(ctx, id)
	if err != nil {
		return nil, err
	}
	if actor.Account.ID == q.AskerID || actor.IsAdmin() {
		return q, nil
	}
	l, err := s.store.List(ctx, q.ListID)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(l.Members, actor.Account.ID) {
		return nil, stipend.Errorf(stipend.EFORBIDDEN, "list question %s is not yours to read", clip(id))
	}
	return q, nil
}

// AskedLists lists the list questions the caller asked. Returns EINVALID.
func (s *Service) AskedLists(ctx context.Context, actor *accounts.Principal, status, cursor string, limit int) ([]ListQuestion, string, error) {
	if err := checkListStatus(status); err != nil {
		return nil, "", err
	}
	return s.store.ListQuestions(ctx, ListQuestionFilter{AskerID: actor.Account.ID, Status: status, Cursor: cursor, Limit: limit})
}

// ListInbox lists the questions asked of the lists the caller is in. Returns EFORBIDDEN and
// EINVALID.
func (s *Service) ListInbox(ctx context.Context, actor *accounts.Principal, status, cursor string, limit int) ([]ListQuestion, string, error) {
	if err := accounts.Require(actor, accounts.ScopeAnswer); err != nil {
		return nil, "", err
	}
	if err := checkListStatus(status); err != nil {
		return nil, "", err
	}
	return s.store.ListQuestions(ctx, ListQuestionFilter{MemberID: actor.Account.ID, Status: status, Cursor: cursor, Limit: limit})
}

func checkListStatus(status string) error {
	switch status {
	case "", Open, Completed, Expired:
		return nil
	}
	return stipend.Errorf(stipend.EINVALID, "status: must be open, completed or expired")
}

// Reply answers a list question as a member of its list. The reply is paid while responses
// bought are left, split by the member's own charity share as it stands now.
// Returns EFORBIDDEN (not a member), EINVALID, ENOTFOUND and ECONFLICT (replied already, every
// response paid, closed, or past the deadline).
func (s *Service) Reply(ctx context.Context, actor *accounts.Principal, id, answer string) (*ListQuestion, error) {
	if err := accounts.Require(actor, accounts.ScopeAnswer); err != nil {
		return nil, err
	}
	if err := stipend.CheckText("answer", strings.TrimSpace(answer), MaxAnswer, false); err != nil {
		return nil, err
	}
	q, err := s.store.ListQuestion(ctx, id)
	if err != nil {
		return nil, err
	}
	l, err := s.store.List(ctx, q.ListID)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(l.Members, actor.Account.ID) {
		return nil, stipend.Errorf(stipend.EFORBIDDEN, "only members of the list %s reply to its questions", l.Handle)
	}
	p, err := s.store.Profile(ctx, actor.Account.ID)
	if err != nil {
		return nil, err
	}
	return s.store.Reply(ctx, &Reply{ID: stipend.NewID("rpl"), QuestionID: q.ID, ExpertID: actor.Account.ID, Answer: answer,
		CharityID: p.CharityID, CharityShare: p.CharityShare}, s.now())
}

// HandleListExpire is the JobListExpire handler: a list question still open at its deadline
// ends, and what is left of its escrow returns to the asker.
func (s *Service) HandleListExpire(ctx context.Context, j jobs.Job) error {
	var p ExpireJob
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return err
	}
	q, err := s.store.ListQuestion(ctx, p.QuestionID)
	if err != nil {
		return err
	}
	if q.Status != Open {
		return nil
	}
	if wait := q.Deadline.Sub(s.now()); wait > 0 {
		return jobs.Snooze(wait)
	}
	if _, err := s.store.ExpireListQuestion(ctx, q.ID, s.now()); err != nil && stipend.ErrorCode(err) != stipend.ECONFLICT {
		return err
	}
	return nil
}
