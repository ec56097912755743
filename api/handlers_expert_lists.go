package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/payments/ledger"
)

// toList describes a list. members, when not nil, maps member ids to what their profiles
// show; without it members are named by id alone.
func toList(l *experts.List, members map[string]wire.ListMember) wire.List {
	out := wire.List{ID: l.ID, Handle: l.Handle, Name: l.Name, Description: l.Description, Price: toMoney(l.Price.Value, l.Price.Asset),
		AnswerWindow: int64(l.AnswerWindow / time.Second), Members: make([]wire.ListMember, 0, len(l.Members)), CreatedAt: l.CreatedAt}
	for _, id := range l.Members {
		m, ok := members[id]
		if !ok {
			m = wire.ListMember{ID: id}
		}
		out.Members = append(out.Members, m)
	}
	return out
}

// listMembers reads the profile of each member of one list, a lookup by key each, bounded by
// experts.MaxMembers. A member whose profile cannot be read is shown by id alone: the handle
// and name are a convenience.
func (s *Server) listMembers(ctx context.Context, l *experts.List) map[string]wire.ListMember {
	out := make(map[string]wire.ListMember, len(l.Members))
	for _, id := range l.Members {
		if p, err := s.experts.Profile(ctx, id); err == nil {
			out[id] = wire.ListMember{ID: id, Handle: p.Handle, Name: p.Name}
		}
	}
	return out
}

func (s *Server) list(c echo.Context, l *experts.List, status int) error {
	return c.JSON(status, toList(l, s.listMembers(c.Request().Context(), l)))
}

func toListQuestion(q *experts.ListQuestion) wire.ListQuestion {
	a := q.Price.Asset
	// The store refuses a question whose price × responses overflows, so the product is exact.
	out := wire.ListQuestion{ID: q.ID, ListID: q.ListID, AskerID: q.AskerID, Question: q.Body, Price: toMoney(q.Price.Value, a),
		FeeBPS: q.FeeBPS, Responses: q.Responses, Paid: q.Paid, EscrowTotal: toMoney(q.Price.Value*int64(q.Responses), a),
		Status: q.Status, Deadline: q.Deadline, Replies: make([]wire.ListReply, 0, len(q.Replies)), CreatedAt: q.CreatedAt,
		ClosedAt: q.ClosedAt}
	for _, r := range q.Replies {
		out.Replies = append(out.Replies, wire.ListReply{ID: r.ID, ExpertID: r.ExpertID, Answer: r.Answer, CharityID: r.CharityID,
			CharityShareBPS: r.CharityShare, Parts: wire.QuestionParts{Fee: toMoney(r.Parts.Fee, a), Charity: toMoney(r.Parts.Charity, a),
				Earnings: toMoney(r.Parts.Earnings, a)}, Transaction: r.LedgerTx, CreatedAt: r.CreatedAt})
	}
	return out
}

func listQuestionPage(c echo.Context, qs []experts.ListQuestion, next string) error {
	out := wire.ListQuestionPage{Data: make([]wire.ListQuestion, 0, len(qs)), NextCursor: next}
	for i := range qs {
		out.Data = append(out.Data, toListQuestion(&qs[i]))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) createList(c echo.Context) error {
	var req wire.CreateListRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Price.Asset == "" {
		return stipend.Errorf(stipend.EINVALID, "price.asset: required (BTC, USD or EUR)")
	}
	// The window is checked in seconds, before it becomes a time.Duration, as for a profile.
	if req.AnswerWindow < minAnswerWindow || req.AnswerWindow > maxAnswerWindow {
		return stipend.Errorf(stipend.EINVALID, "answer_window: must be between 1 hour and 30 days, in seconds (%d to %d)", minAnswerWindow, maxAnswerWindow)
	}
	l, err := s.experts.CreateList(c.Request().Context(), principal(c), experts.NewList{Handle: req.Handle, Name: req.Name,
		Description: req.Description, Price: ledger.Amount{Value: req.Price.Amount, Asset: ledger.Asset(req.Price.Asset)},
		AnswerWindow: time.Duration(req.AnswerWindow) * time.Second, Members: req.Members})
	if err != nil {
		return err
	}
	return s.list(c, l, http.StatusCreated)
}

func (s *Server) listLists(c echo.Context) error {
	ls, err := s.experts.Lists(c.Request().Context())
	if err != nil {
		return err
	}
	out := wire.ListIndex{Data: make([]wire.List, 0, len(ls))}
	for i := range ls {
		out.Data = append(out.Data, toList(&ls[i], nil))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getList(c echo.Context) error {
	l, err := s.experts.List(c.Request().Context(), c.Param("list"))
	if err != nil {
		return err
	}
	return s.list(c, l, http.StatusOK)
}

func (s *Server) askList(c echo.Context) error {
	var req wire.AskListRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	q, err := s.experts.AskList(c.Request().Context(), principal(c), c.Param("list"), req.Question, req.Responses, idempotencyKey(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toListQuestion(q))
}

func (s *Server) listListQuestions(c echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	qs, next, err := s.experts.AskedLists(c.Request().Context(), principal(c), c.QueryParam("status"), c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	return listQuestionPage(c, qs, next)
}

func (s *Server) listInbox(c echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	qs, next, err := s.experts.ListInbox(c.Request().Context(), principal(c), c.QueryParam("status"), c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	return listQuestionPage(c, qs, next)
}

func (s *Server) getListQuestion(c echo.Context) error {
	q, err := s.experts.ListQuestion(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toListQuestion(q))
}

func (s *Server) replyListQuestion(c echo.Context) error {
	var req wire.ReplyRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	q, err := s.experts.Reply(c.Request().Context(), principal(c), c.Param("id"), req.Answer)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toListQuestion(q))
}
