package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/stipend/stipend/api/wire"
)

// ExpertFilter selects experts for Experts. Every field is optional.
type ExpertFilter struct {
	Topic     string // only experts of this topic, such as "kubernetes"
	Query     string // words of the name or bio
	Accepting bool   // only experts taking questions now
	Cursor    string // "" for the first page, the previous page's NextCursor after that
	Limit     int    // the page size, 0 for the server's default
}

// CreateCharity registers a charity that experts may give a share of their earnings to. It
// needs an admin key. It moves no money and is not retried.
func (c *Client) CreateCharity(ctx context.Context, req wire.CreateCharityRequest) (*wire.Charity, error) {
	return call[wire.Charity](ctx, c, http.MethodPost, "/v1/admin/charities", nil, req, "")
}

// Charities lists the charity registry, by handle, with what each charity has received. It is
// public: no API key is needed.
func (c *Client) Charities(ctx context.Context) (*wire.CharityList, error) {
	return call[wire.CharityList](ctx, c, http.MethodGet, "/v1/charities", nil, nil, "")
}

// Charity returns a charity, by id or handle, with what it has received. It is public.
func (c *Client) Charity(ctx context.Context, charity string) (*wire.Charity, error) {
	if charity == "" {
		return nil, errors.New("stipend API: Charity: the charity is empty")
	}
	return call[wire.Charity](ctx, c, http.MethodGet, charityPath(charity, ""), nil, nil, "")
}

// Donations returns one page of a charity's donation receipts, newest first, with the
// charity's receipt details. cursor and limit work as for Transactions. It is public.
func (c *Client) Donations(ctx context.Context, charity, cursor string, limit int) (*wire.DonationPage, error) {
	if charity == "" {
		return nil, errors.New("stipend API: Donations: the charity is empty")
	}
	return call[wire.DonationPage](ctx, c, http.MethodGet, charityPath(charity, "/donations"), pageQuery("", cursor, limit), nil, "")
}

// SetExpertProfile sets the caller's expert profile, replacing the one before: the price of an
// answer, how long the expert takes to answer (req.AnswerWindow, in seconds), the topics, and
// the charity that gets a share of the earnings. It needs a key with the experts:answer scope.
// It moves no money and is not retried.
func (c *Client) SetExpertProfile(ctx context.Context, req wire.SetExpertRequest) (*wire.Expert, error) {
	return call[wire.Expert](ctx, c, http.MethodPut, "/v1/me/expert", nil, req, "")
}

// Experts returns one page of the expert directory that f selects, by handle. It is public.
func (c *Client) Experts(ctx context.Context, f ExpertFilter) (*wire.ExpertPage, error) {
	q := pageQuery("", f.Cursor, f.Limit)
	if f.Topic != "" {
		q.Set("topic", f.Topic)
	}
	if f.Query != "" {
		q.Set("q", f.Query)
	}
	if f.Accepting {
		q.Set("accepting", "true")
	}
	return call[wire.ExpertPage](ctx, c, http.MethodGet, "/v1/experts", q, nil, "")
}

// Expert returns an expert's public profile and record, by handle. It is public.
func (c *Client) Expert(ctx context.Context, handle string) (*wire.Expert, error) {
	if handle == "" {
		return nil, errors.New("stipend API: Expert: the handle is empty")
	}
	return call[wire.Expert](ctx, c, http.MethodGet, expertPath(handle, ""), nil, nil, "")
}

// The escrows of a question (wire.AskRequest.Escrow): how its price is held until it ends.
const (
	// EscrowBalance holds the price on the asker's balance; the question opens at once. It is
	// the default.
	EscrowBalance = "balance"
	// EscrowLightning holds the price with a hold invoice, which the asker pays from any
	// Lightning wallet: the question opens when the payment is held, and the payment is taken
	// only if the question is answered.
	EscrowLightning = "lightning"
)

// AskExpert asks an expert, by handle, the question req.Question at the expert's price, held
// in the escrow that req.Escrow names ("" for EscrowBalance). From the balance, the question
// opens at once; the price is paid out when the expert answers, and returns when the expert
// declines or the deadline passes. With EscrowLightning the question is awaiting_payment, and
// its Invoice.PaymentRequest is the BOLT11 invoice to pay: the question opens when the payment
// is held (poll Question until its status changes), and ends unpaid if the invoice expires
// first. The server refuses EscrowLightning with "unavailable" when it has no Lightning node,
// and with "invalid" when the price is not in BTC or the expert's answer window is longer than
// a hold invoice can be held. It needs a key with the transfers:write scope. idempotencyKey
// works as for Transfer: a repeat with the same key returns the first question, and holds the
// price, or makes the invoice, once.
func (c *Client) AskExpert(ctx context.Context, handle string, req wire.AskRequest, idempotencyKey string) (*wire.Question, error) {
	if handle == "" {
		return nil, errors.New("stipend API: AskExpert: the handle is empty")
	}
	return call[wire.Question](ctx, c, http.MethodPost, expertPath(handle, "/questions"), nil, req, keyOrNew(idempotencyKey))
}

// Questions returns one page of the questions the caller asked, newest first: status, unless
// "", is awaiting_payment, open, answered, declined, expired or unpaid; cursor and limit work
// as for Transactions.
func (c *Client) Questions(ctx context.Context, status, cursor string, limit int) (*wire.QuestionPage, error) {
	return call[wire.QuestionPage](ctx, c, http.MethodGet, "/v1/questions", statusQuery(status, cursor, limit), nil, "")
}

// Inbox returns one page of the questions asked of the caller as an expert, newest first:
// only those whose price is held, never one awaiting payment or unpaid. status, cursor and
// limit work as for Questions. It needs a key with the experts:answer scope.
func (c *Client) Inbox(ctx context.Context, status, cursor string, limit int) (*wire.QuestionPage, error) {
	return call[wire.QuestionPage](ctx, c, http.MethodGet, "/v1/inbox", statusQuery(status, cursor, limit), nil, "")
}

// Question returns a question to its asker, its expert or an admin.
func (c *Client) Question(ctx context.Context, id string) (*wire.Question, error) {
	if id == "" {
		return nil, errors.New("stipend API: Question: the question id is empty")
	}
	return call[wire.Question](ctx, c, http.MethodGet, questionPath(id, ""), nil, nil, "")
}

// AnswerQuestion answers a question before its deadline, as its expert: the price held for it
// is split into the platform fee, the charity's share and the expert's earnings, shown in the
// result's Parts. idempotencyKey works as for Transfer: a repeat with the same key pays once.
func (c *Client) AnswerQuestion(ctx context.Context, id, answer, idempotencyKey string) (*wire.Question, error) {
	if id == "" {
		return nil, errors.New("stipend API: AnswerQuestion: the question id is empty")
	}
	return call[wire.Question](ctx, c, http.MethodPost, questionPath(id, "/answer"), nil, wire.AnswerRequest{Answer: answer}, keyOrNew(idempotencyKey))
}

// DeclineQuestion turns a question down, as its expert, with an optional reason the asker
// sees; the price held for it returns to the asker. idempotencyKey works as for Transfer.
func (c *Client) DeclineQuestion(ctx context.Context, id, reason, idempotencyKey string) (*wire.Question, error) {
	if id == "" {
		return nil, errors.New("stipend API: DeclineQuestion: the question id is empty")
	}
	return call[wire.Question](ctx, c, http.MethodPost, questionPath(id, "/decline"), nil, wire.DeclineRequest{Reason: reason}, keyOrNew(idempotencyKey))
}

// RateAnswer rates the answer to one of the caller's questions from 1 to 5, once, with an
// optional comment. It moves no money and is not retried.
func (c *Client) RateAnswer(ctx context.Context, id string, rating int, comment string) (*wire.Question, error) {
	if id == "" {
		return nil, errors.New("stipend API: RateAnswer: the question id is empty")
	}
	return call[wire.Question](ctx, c, http.MethodPost, questionPath(id, "/rating"), nil, wire.RateRequest{Rating: rating, Comment: comment}, "")
}

func statusQuery(status, cursor string, limit int) url.Values {
	q := pageQuery("", cursor, limit)
	if status != "" {
		q.Set("status", status)
	}
	return q
}

func charityPath(charity, rest string) string {
	return "/v1/charities/" + url.PathEscape(charity) + rest
}

func expertPath(handle, rest string) string { return "/v1/experts/" + url.PathEscape(handle) + rest }

func questionPath(id, rest string) string { return "/v1/questions/" + url.PathEscape(id) + rest }
