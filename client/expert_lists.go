package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/stipend/stipend/api/wire"
)

// CreateList makes a list of experts, named by handle or account id, that one question goes
// to at a price per response. It needs an admin key. It moves no money and is not retried.
func (c *Client) CreateList(ctx context.Context, req wire.CreateListRequest) (*wire.List, error) {
	return call[wire.List](ctx, c, http.MethodPost, "/v1/admin/lists", nil, req, "")
}

// Lists returns every list of experts, by handle, with its members by id. It is public: no
// API key is needed.
func (c *Client) Lists(ctx context.Context) (*wire.ListIndex, error) {
	return call[wire.ListIndex](ctx, c, http.MethodGet, "/v1/lists", nil, nil, "")
}

// List returns a list of experts, by id or handle, with its members' handles and names. It
// is public.
func (c *Client) List(ctx context.Context, list string) (*wire.List, error) {
	if list == "" {
		return nil, errors.New("stipend API: List: the list is empty")
	}
	return call[wire.List](ctx, c, http.MethodGet, listPath(list, ""), nil, nil, "")
}

// AskList asks every member of a list, by id or handle, one question and buys responses
// replies at the list's price each. The price × responses is held on the caller's balance:
// each reply is paid from it, and what is left at the deadline returns. It needs a key with
// the transfers:write scope. idempotencyKey works as for Transfer: a repeat with the same key
// returns the first question and holds once.
func (c *Client) AskList(ctx context.Context, list, question string, responses int, idempotencyKey string) (*wire.ListQuestion, error) {
	if list == "" {
		return nil, errors.New("stipend API: AskList: the list is empty")
	}
	return call[wire.ListQuestion](ctx, c, http.MethodPost, listPath(list, "/questions"), nil,
		wire.AskListRequest{Question: question, Responses: responses}, keyOrNew(idempotencyKey))
}

// ListQuestions returns one page of the list questions the caller asked, newest first,
// without their replies: status, unless "", is open, completed or expired; cursor and limit
// work as for Transactions.
func (c *Client) ListQuestions(ctx context.Context, status, cursor string, limit int) (*wire.ListQuestionPage, error) {
	return call[wire.ListQuestionPage](ctx, c, http.MethodGet, "/v1/list-questions", statusQuery(status, cursor, limit), nil, "")
}

// ListInbox returns one page of the questions asked of the lists the caller is in, newest
// first, without their replies. status, cursor and limit work as for ListQuestions. It needs a
// key with the experts:answer scope.
func (c *Client) ListInbox(ctx context.Context, status, cursor string, limit int) (*wire.ListQuestionPage, error) {
	return call[wire.ListQuestionPage](ctx, c, http.MethodGet, "/v1/list-inbox", statusQuery(status, cursor, limit), nil, "")
}

// ListQuestion returns a list question with its replies, to its asker, the members of its
// list or an admin.
func (c *Client) ListQuestion(ctx context.Context, id string) (*wire.ListQuestion, error) {
	if id == "" {
		return nil, errors.New("stipend API: ListQuestion: the list question id is empty")
	}
	return call[wire.ListQuestion](ctx, c, http.MethodGet, listQuestionPath(id, ""), nil, nil, "")
}

// Reply answers a list question once, as a member of its list: while responses bought are
// left the reply is paid, split into the platform fee, the member's charity share and
// earnings, shown in the reply's Parts. idempotencyKey works as for Transfer: a repeat with
// the same key pays once.
func (c *Client) Reply(ctx context.Context, id, answer, idempotencyKey string) (*wire.ListQuestion, error) {
	if id == "" {
		return nil, errors.New("stipend API: Reply: the list question id is empty")
	}
	return call[wire.ListQuestion](ctx, c, http.MethodPost, listQuestionPath(id, "/replies"), nil, wire.ReplyRequest{Answer: answer},
		keyOrNew(idempotencyKey))
}

func listPath(list, rest string) string { return "/v1/lists/" + url.PathEscape(list) + rest }

func listQuestionPath(id, rest string) string {
	return "/v1/list-questions/" + url.PathEscape(id) + rest
}
