package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/experts"
	"github.com/stipend/stipend/payments/ledger"
)

func toCharity(ch *experts.Charity) wire.Charity {
	out := wire.Charity{ID: ch.ID, Handle: ch.Handle, Name: ch.Name, Website: ch.Website, Receipt: ch.Receipt,
		Destinations: ch.Destinations, AccountID: ch.AccountID, Received: make([]wire.Money, 0, len(ch.Received)),
		Balance: make([]wire.Money, 0, len(ch.Balance)), CreatedAt: ch.CreatedAt}
	// The schema says destinations is an object: an empty one rather than null.
	if out.Destinations == nil {
		out.Destinations = map[string]string{}
	}
	for _, m := range ch.Received {
		out.Received = append(out.Received, toMoney(m.Value, m.Asset))
	}
	for _, m := range ch.Balance {
		out.Balance = append(out.Balance, toMoney(m.Value, m.Asset))
	}
	return out
}

func toDonation(d *experts.Donation) wire.Donation {
	return wire.Donation{ID: d.ID, CharityID: d.CharityID, DonorID: d.DonorID, QuestionID: d.QuestionID,
		Amount: toMoney(d.Amount, ledger.Asset(d.Asset)), Transaction: d.LedgerTx, CreatedAt: d.CreatedAt}
}

// toExpert describes a profile; charities maps the ids of the charities it may name to what
// the profile shows of them.
func toExpert(p *experts.Profile, charities map[string]*wire.CharityRef) wire.Expert {
	out := wire.Expert{AccountID: p.AccountID, Handle: p.Handle, Name: p.Name, Bio: p.Bio, Topics: p.Topics,
		Price: toMoney(p.Price.Value, p.Price.Asset), AnswerWindow: int64(p.AnswerWindow / time.Second), Accepting: p.Accepting,
		CharityShareBPS: p.CharityShare, Answered: p.Answered, Rating: wire.Rating{AverageTenths: p.Rating(), Count: p.RatingCount},
		UpdatedAt: p.UpdatedAt}
	if out.Topics == nil {
		out.Topics = []string{}
	}
	if p.CharityID != "" {
		out.Charity = charities[p.CharityID]
		if out.Charity == nil {
			out.Charity = &wire.CharityRef{ID: p.CharityID}
		}
	}
	return out
}

// charityRefs returns what the profiles show of the charities they name: one charity is
// read for one profile, and the registry, which is short, for a page of them.
func (s *Server) charityRefs(ctx context.Context, ps ...experts.Profile) (map[string]*wire.CharityRef, error) {
	refs := map[string]*wire.CharityRef{}
	var ids []string
	for _, p := range ps {
		if p.CharityID != "" {
			ids = append(ids, p.CharityID)
		}
	}
	switch len(ids) {
	case 0:
		return refs, nil
	case 1:
		ch, err := s.experts.Charity(ctx, ids[0])
		if err != nil {
			return nil, err
		}
		refs[ch.ID] = &wire.CharityRef{ID: ch.ID, Handle: ch.Handle, Name: ch.Name}
		return refs, nil
	}
	all, err := s.experts.Charities(ctx)
	if err != nil {
		return nil, err
	}
	for _, ch := range all {
		refs[ch.ID] = &wire.CharityRef{ID: ch.ID, Handle: ch.Handle, Name: ch.Name}
	}
	return refs, nil
}

func toQuestion(q *experts.Question, expertHandle string) wire.Question {
	a := q.Price.Asset
	out := wire.Question{ID: q.ID, ExpertID: q.ExpertID, ExpertHandle: expertHandle, AskerID: q.AskerID, Question: q.Body,
		Price: toMoney(q.Price.Value, a), FeeBPS: q.FeeBPS, CharityID: q.CharityID, CharityShareBPS: q.CharityShare,
		Escrow: q.Escrow, Status: q.Status, Deadline: q.Deadline, Answer: q.Answer, DeclineReason: q.DeclineReason,
		Rating: q.Rating, RatingComment: q.RatingComment, Transaction: q.LedgerTx, CreatedAt: q.CreatedAt, ClosedAt: q.ClosedAt}
	if q.Status == experts.Answered {
		out.Parts = &wire.QuestionParts{Fee: toMoney(q.Parts.Fee, a), Charity: toMoney(q.Parts.Charity, a), Earnings: toMoney(q.Parts.Earnings, a)}
	}
	if inv := q.Invoice; inv != nil {
		out.Invoice = &wire.HoldInvoice{PaymentHash: inv.Hash, Amount: toMoney(inv.AmountMsat, a), ExpiresAt: inv.ExpiresAt, State: inv.State}
		if q.Status == experts.AwaitingPayment {
			out.Invoice.PaymentRequest = inv.PaymentRequest
		}
	}
	if card := q.Card; card != nil {
		out.Card = &wire.CardEscrow{PaymentIntent: card.PaymentIntent, State: card.State, PayBy: card.PayBy}
		if q.Status == experts.AwaitingPayment {
			out.Card.ClientSecret = card.ClientSecret
		}
		if !card.CaptureBy.IsZero() {
			out.Card.CaptureBy = &card.CaptureBy
		}
	}
	return out
}

// handles finds the handles of the experts of questions, each once per request. An expert
// whose account cannot be read is shown by id alone: the handle is a convenience.
type handles struct {
	s     *Server
	known map[string]string
}

func (s *Server) handles(c echo.Context) *handles {
	h := &handles{s: s, known: map[string]string{}}
	if p := principal(c); p != nil {
		h.known[p.Account.ID] = p.Account.Handle
	}
	return h
}

func (h *handles) of(ctx context.Context, accountID string) string {
	if v, ok := h.known[accountID]; ok {
		return v
	}
	a, err := h.s.accounts.Resolve(ctx, accountID)
	if err != nil {
		h.known[accountID] = ""
		return ""
	}
	h.known[accountID] = a.Handle
	return a.Handle
}

func (s *Server) question(c echo.Context, q *experts.Question, status int) error {
	return c.JSON(status, toQuestion(q, s.handles(c).of(c.Request().Context(), q.ExpertID)))
}

func (s *Server) questionPage(c echo.Context, qs []experts.Question, next string) error {
	h := s.handles(c)
	out := wire.QuestionPage{Data: make([]wire.Question, 0, len(qs)), NextCursor: next}
	for i := range qs {
		out.Data = append(out.Data, toQuestion(&qs[i], h.of(c.Request().Context(), qs[i].ExpertID)))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) createCharity(c echo.Context) error {
	var req wire.CreateCharityRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	ch, err := s.experts.CreateCharity(c.Request().Context(), principal(c), experts.NewCharity{Handle: req.Handle, Name: req.Name,
		Website: req.Website, Receipt: req.Receipt, Destinations: req.Destinations})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toCharity(ch))
}

func (s *Server) listCharities(c echo.Context) error {
	cs, err := s.experts.Charities(c.Request().Context())
	if err != nil {
		return err
	}
	out := wire.CharityList{Data: make([]wire.Charity, 0, len(cs))}
	for i := range cs {
		out.Data = append(out.Data, toCharity(&cs[i]))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getCharity(c echo.Context) error {
	ch, err := s.experts.Charity(c.Request().Context(), c.Param("charity"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toCharity(ch))
}

func (s *Server) listDonations(c echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	ch, ds, next, err := s.experts.Donations(c.Request().Context(), c.Param("charity"), c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	out := wire.DonationPage{Charity: toCharity(ch), Data: make([]wire.Donation, 0, len(ds)), NextCursor: next}
	for i := range ds {
		out.Data = append(out.Data, toDonation(&ds[i]))
	}
	return c.JSON(http.StatusOK, out)
}

// Bounds of an answer window in a request, in seconds. They are checked here, before the
// seconds become a time.Duration, so that a huge number cannot wrap around into a valid one.
const (
	minAnswerWindow = int64(experts.MinAnswerWindow / time.Second)
	maxAnswerWindow = int64(experts.MaxAnswerWindow / time.Second)
)

func (s *Server) setExpert(c echo.Context) error {
	var req wire.SetExpertRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Price.Asset == "" {
		return stipend.Errorf(stipend.EINVALID, "price.asset: required (BTC, USD or EUR)")
	}
	if req.AnswerWindow < minAnswerWindow || req.AnswerWindow > maxAnswerWindow {
		return stipend.Errorf(stipend.EINVALID, "answer_window: must be between 1 hour and 30 days, in seconds (%d to %d)", minAnswerWindow, maxAnswerWindow)
	}
	// A profile that is set is meant to take questions unless it says otherwise.
	accepting := req.Accepting == nil || *req.Accepting
	p, err := s.experts.SetProfile(c.Request().Context(), principal(c), experts.ProfileInput{Name: req.Name, Bio: req.Bio,
		Topics: req.Topics, Price: ledger.Amount{Value: req.Price.Amount, Asset: ledger.Asset(req.Price.Asset)},
		AnswerWindow: time.Duration(req.AnswerWindow) * time.Second, Accepting: accepting, Charity: req.Charity,
		CharityShare: req.CharityShareBPS})
	if err != nil {
		return err
	}
	return s.expert(c, p)
}

func (s *Server) expert(c echo.Context, p *experts.Profile) error {
	refs, err := s.charityRefs(c.Request().Context(), *p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toExpert(p, refs))
}

func (s *Server) listExperts(c echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	var accepting bool
	if v := c.QueryParam("accepting"); v != "" {
		if accepting, err = strconv.ParseBool(v); err != nil {
			return stipend.Errorf(stipend.EINVALID, "accepting: must be true or false")
		}
	}
	ctx := c.Request().Context()
	ps, next, err := s.experts.Directory(ctx, experts.Filter{Topic: c.QueryParam("topic"), Query: c.QueryParam("q"),
		Accepting: accepting, Cursor: c.QueryParam("cursor"), Limit: limit})
	if err != nil {
		return err
	}
	refs, err := s.charityRefs(ctx, ps...)
	if err != nil {
		return err
	}
	out := wire.ExpertPage{Data: make([]wire.Expert, 0, len(ps)), NextCursor: next}
	for i := range ps {
		out.Data = append(out.Data, toExpert(&ps[i], refs))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getExpert(c echo.Context) error {
	p, err := s.experts.Profile(c.Request().Context(), c.Param("handle"))
	if err != nil {
		return err
	}
	return s.expert(c, p)
}

func (s *Server) askExpert(c echo.Context) error {
	var req wire.AskRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Escrow == experts.EscrowLightning || req.Escrow == experts.EscrowCard {
		// Each Lightning ask costs a hold invoice and a subscription until it is paid or
		// expires, and each card ask a PaymentIntent at Stripe, as a 402 challenge costs an
		// invoice: they all draw on the caller's challenge allowance.
		if wait, ok := s.challenges.allow(s.challengeClient(c)); !ok {
			c.Response().Header().Set("Retry-After", wait)
			return stipend.Errorf(stipend.ERATELIMITED, "too many unpaid questions from this account: retry later")
		}
	}
	q, err := s.experts.Ask(c.Request().Context(), principal(c), c.Param("handle"), req.Question, req.Escrow, idempotencyKey(c))
	if err != nil {
		return err
	}
	return s.question(c, q, http.StatusCreated)
}

func (s *Server) listQuestions(c echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	qs, next, err := s.experts.Asked(c.Request().Context(), principal(c), c.QueryParam("status"), c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	return s.questionPage(c, qs, next)
}

func (s *Server) inbox(c echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	qs, next, err := s.experts.Inbox(c.Request().Context(), principal(c), c.QueryParam("status"), c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	return s.questionPage(c, qs, next)
}

func (s *Server) getQuestion(c echo.Context) error {
	q, err := s.experts.Question(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return s.question(c, q, http.StatusOK)
}

func (s *Server) answerQuestion(c echo.Context) error {
	var req wire.AnswerRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	q, err := s.experts.Answer(c.Request().Context(), principal(c), c.Param("id"), req.Answer)
	if err != nil {
		return err
	}
	return s.question(c, q, http.StatusOK)
}

func (s *Server) declineQuestion(c echo.Context) error {
	var req wire.DeclineRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	q, err := s.experts.Decline(c.Request().Context(), principal(c), c.Param("id"), req.Reason)
	if err != nil {
		return err
	}
	return s.question(c, q, http.StatusOK)
}

func (s *Server) rateQuestion(c echo.Context) error {
	var req wire.RateRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	q, err := s.experts.Rate(c.Request().Context(), principal(c), c.Param("id"), req.Rating, req.Comment)
	if err != nil {
		return err
	}
	return s.question(c, q, http.StatusOK)
}
