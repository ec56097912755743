// Package client is a small typed Go client for Stipend's /v1 HTTP API.
//
//	c := client.New("https://stipend.example", apiKey)
//	bal, err := c.Balances(ctx, "")
//	tx, err := c.Transfer(ctx, wire.TransferRequest{To: "bob", Amount: 2_100_000, Asset: "BTC"}, "")
//	po, err := c.CreatePayout(ctx, wire.CreatePayoutRequest{Destination: "bob@example.com", Amount: 1_000_000}, "")
//
// Requests and responses are the JSON types of package wire, which the server uses too.
// Amounts are integers in the asset's minor unit (millisatoshis, cents), never floats.
//
// Bounties: a sponsor creates and funds one (CreateBounty), tops it up or cancels it; CI
// reports test results to it with a CI token (ReportResults), and for a review bounty people
// claim a unit, submit work and have it approved or rejected. Bounty, Bounties and
// BountyStatement are public: they work with a client made without an API key.
//
//	b, err := c.CreateBounty(ctx, wire.CreateBountyRequest{Kind: "test_run", Title: "Run the e2e suite",
//		Reward: wire.MoneyRequest{Amount: 50_000, Asset: "BTC"}, Units: 100, Approval: "ci", Deadline: deadline}, "")
//	rep, err := ci.ReportResults(ctx, b.ID, client.FormatJUnit, "run-1", "octocat", file, "")
//
// Expert questions: an expert sets a price per answer and a charity share (SetExpertProfile);
// an asker pays the price into escrow when asking (AskExpert): a hold on their balance, or a
// Lightning hold invoice (EscrowLightning) that opens the question when it is paid. The expert
// answers (AnswerQuestion), which splits the price into the platform fee, the charity's share
// and the expert's earnings, or declines (DeclineQuestion), which returns it, as does the
// deadline. Experts, Expert, Charities, Charity and Donations are public.
//
//	q, err := c.AskExpert(ctx, "kay", wire.AskRequest{Question: "How do I drain a node?"}, "")
//	a, err := expert.AnswerQuestion(ctx, q.ID, "kubectl drain --ignore-daemonsets", "")
//
// Errors from the server are *Error values carrying the HTTP status and the RFC 9457 problem
// the server sent; match on its Problem.Code (or use ErrorCode), which is stable.
//
// Retries: GET requests and money-moving requests (which carry an Idempotency-Key) are retried
// after a network error or a 502, 503 or 504, a few times with backoff. A money-moving request
// is also retried after a 409 "conflict" with a Retry-After header, which is the server saying
// that an earlier request with the same key is still running, after waiting as Retry-After
// asks (up to 5 s). A money-moving request is always retried with the key of its first
// attempt, never a new one, so the server runs it at most once and a retry gets the first
// result back. The money-moving calls are Transfer, AdminCredit, CreateFunding, CreatePayout,
// CancelPayout, the bounty calls that fund, pay or refund, AskExpert, AnswerQuestion and
// DeclineQuestion. Other requests (creating accounts and keys, revoking a key, setting a
// payout preference or an expert profile, rating an answer) are never retried, because the
// client cannot know whether the first attempt took effect.
//
// When a money-moving call fails with a network error, a 5xx or a 409 "conflict", the caller
// cannot know whether money moved: the only safe retry is the same call with the same key
// (Response.IdempotencyKey), which returns the first result if there was one.
//
// WithResponse lets a caller see the HTTP response behind a result: the raw JSON body, the
// request id, the Idempotency-Key used and whether the server replayed an earlier response.
package client

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stipend/stipend/api/wire"
)

// Headers the API defines.
const (
	HeaderIdempotencyKey      = "Idempotency-Key"
	HeaderIdempotencyReplayed = "Idempotency-Replayed"
	HeaderRequestID           = "X-Request-Id"
)

// DefaultUserAgent is sent when no WithUserAgent option is given.
const DefaultUserAgent = "stipend-go-client"

// Defaults of the retry policy.
const (
	DefaultMaxAttempts = 3
	DefaultBackoff     = 200 * time.Millisecond
	maxBackoff         = 5 * time.Second
	// maxResponseBytes bounds how much of a response the client reads; the API's responses
	// are far smaller, so more means something other than the API answered.
	maxResponseBytes = 16 << 20
)

// Client calls the API with one API key. It is safe for concurrent use.
type Client struct {
	baseURL     string
	apiKey      string
	http        *http.Client
	userAgent   string
	maxAttempts int
	backoff     time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through h instead of
// http.DefaultClient, for example to set a timeout, a proxy or TLS settings.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) {
		if h != nil {
			c.http = h
		}
	}
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// WithRetries sets how many times in all a retryable request is attempted (1 disables
// retries) and the delay before the first retry, which doubles for each later one.
func WithRetries(maxAttempts int, backoff time.Duration) Option {
	return func(c *Client) {
		c.maxAttempts = max(maxAttempts, 1)
		if backoff > 0 {
			c.backoff = backoff
		}
	}
}

// New returns a client of the API at baseURL (such as "http://127.0.0.1:8402") that
// authenticates with apiKey. An empty apiKey sends no Authorization header, which the server
// answers with 401 on every /v1 route but the public reads: of bounties (Bounty, Bounties and
// BountyStatement), of experts (Experts and Expert) and of charities (Charities, Charity and
// Donations).
func New(baseURL, apiKey string, opts ...Option) *Client {
	c := &Client{
		baseURL:     strings.TrimRight(baseURL, "/"),
		apiKey:      apiKey,
		http:        http.DefaultClient,
		userAgent:   DefaultUserAgent,
		maxAttempts: DefaultMaxAttempts,
		backoff:     DefaultBackoff,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL returns the server the client talks to.
func (c *Client) BaseURL() string { return c.baseURL }

// NewIdempotencyKey returns a new random Idempotency-Key: 128 bits from crypto/rand.
func NewIdempotencyKey() string { return crand.Text() }

// Response describes the last HTTP response a call received. Pass one to WithResponse to
// have a call fill it in; it is filled in on failure too, as far as the call got.
type Response struct {
	StatusCode int
	Header     http.Header
	// Body is the response body exactly as the server sent it.
	Body []byte
	// RequestID is the server's id of the request, for its logs.
	RequestID string
	// IdempotencyKey is the key a money-moving call was sent with: the caller's, or the one
	// the client generated. Retrying the call with this key is safe.
	IdempotencyKey string
	// Replayed is true when the server answered with the stored response of an earlier
	// request with the same Idempotency-Key, rather than running the request again.
	Replayed bool
	// Attempts is how many times the request was sent.
	Attempts int
}

type responseKey struct{}

// WithResponse returns a context that makes a call record its HTTP response in r: the raw
// body, the request id, whether it was a replay, the Idempotency-Key used.
func WithResponse(ctx context.Context, r *Response) context.Context {
	return context.WithValue(ctx, responseKey{}, r)
}

type progressKey struct{}

// WithUploadProgress returns a context that makes a call report how far the sending of its
// request body has got: fn is called with the bytes sent so far and the body's size as the
// HTTP transport reads the body, from the transport's goroutine, one call at a time, and
// never after the call has returned. A retry sends the body again, so the count starts over
// at 0. It is meant for large bodies, such as an upload of CI results (ReportResults).
func WithUploadProgress(ctx context.Context, fn func(sent, total int64)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// Error is an error response of the API.
type Error struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// Problem is the RFC 9457 problem the server sent. When the body was not a problem (a
	// proxy's error page, say), Problem.Code is empty, Problem.Title is the status text and
	// Problem.Detail names the status and, unless the body is HTML, quotes its start.
	// Problem.RequestID falls back to the X-Request-Id header.
	Problem wire.Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("stipend API: ")
	switch {
	case e.Problem.Detail != "":
		b.WriteString(e.Problem.Detail)
	case e.Problem.Title != "":
		b.WriteString(e.Problem.Title)
	default:
		b.WriteString(http.StatusText(e.StatusCode))
	}
	b.WriteString(" (")
	if e.Problem.Code != "" {
		b.WriteString(e.Problem.Code)
		b.WriteString(", ")
	}
	b.WriteString("HTTP ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if e.Problem.RequestID != "" {
		b.WriteString(", request ")
		b.WriteString(e.Problem.RequestID)
	}
	b.WriteString(")")
	return b.String()
}

// ErrorCode returns the problem code of an API error in err's chain ("insufficient_funds",
// "unauthorized", ...), and "" for any other error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Problem.Code
	}
	return ""
}

// Me returns the caller: its account and the API key it used.
func (c *Client) Me(ctx context.Context) (*wire.Me, error) {
	return call[wire.Me](ctx, c, http.MethodGet, "/v1/me", nil, nil, "")
}

// CreateAccount creates a user or an organisation. It needs an admin key.
func (c *Client) CreateAccount(ctx context.Context, req wire.CreateAccountRequest) (*wire.Account, error) {
	return call[wire.Account](ctx, c, http.MethodPost, "/v1/accounts", nil, req, "")
}

// Account returns an account the caller may read.
func (c *Client) Account(ctx context.Context, id string) (*wire.Account, error) {
	if id == "" {
		return nil, errors.New("stipend API: Account: the account id is empty")
	}
	return call[wire.Account](ctx, c, http.MethodGet, "/v1/accounts/"+url.PathEscape(id), nil, nil, "")
}

// CreateKey creates an API key. Its secret is in the result only; the server never shows it
// again.
func (c *Client) CreateKey(ctx context.Context, req wire.CreateKeyRequest) (*wire.CreatedKey, error) {
	return call[wire.CreatedKey](ctx, c, http.MethodPost, "/v1/keys", nil, req, "")
}

// Keys lists the API keys of an account ("" for the caller's own).
func (c *Client) Keys(ctx context.Context, accountID string) (*wire.KeyList, error) {
	return call[wire.KeyList](ctx, c, http.MethodGet, "/v1/keys", accountQuery(accountID), nil, "")
}

// RevokeKey revokes an API key and returns it as it now is.
func (c *Client) RevokeKey(ctx context.Context, id string) (*wire.Key, error) {
	if id == "" {
		return nil, errors.New("stipend API: RevokeKey: the key id is empty")
	}
	return call[wire.Key](ctx, c, http.MethodDelete, "/v1/keys/"+url.PathEscape(id), nil, nil, "")
}

// Balances returns an account's balances per asset ("" for the caller's account).
func (c *Client) Balances(ctx context.Context, accountID string) (*wire.Balances, error) {
	return call[wire.Balances](ctx, c, http.MethodGet, "/v1/balances", accountQuery(accountID), nil, "")
}

// Transactions returns one page of the ledger transactions of an account ("" for the
// caller's), newest first. cursor is "" for the first page and the previous page's
// NextCursor after that; limit is the page size (0 for the server's default).
func (c *Client) Transactions(ctx context.Context, accountID, cursor string, limit int) (*wire.TransactionPage, error) {
	return call[wire.TransactionPage](ctx, c, http.MethodGet, "/v1/transactions", pageQuery(accountID, cursor, limit), nil, "")
}

// Transfer moves money from the caller's account (or req.From) to another account named by
// id or handle. idempotencyKey makes the call safe to repeat: the same key and request give
// the first result again without moving money twice. With "", the client generates a key
// (see Response.IdempotencyKey) and uses it for its own retries.
func (c *Client) Transfer(ctx context.Context, req wire.TransferRequest, idempotencyKey string) (*wire.Transaction, error) {
	return call[wire.Transaction](ctx, c, http.MethodPost, "/v1/transfers", nil, req, keyOrNew(idempotencyKey))
}

// AdminCredit credits an account with money from outside Stipend. It needs an admin key.
// idempotencyKey works as for Transfer.
func (c *Client) AdminCredit(ctx context.Context, req wire.AdminCreditRequest, idempotencyKey string) (*wire.Transaction, error) {
	return call[wire.Transaction](ctx, c, http.MethodPost, "/v1/admin/credits", nil, req, keyOrNew(idempotencyKey))
}

// CreateFunding asks for a Lightning invoice that credits an account (req.AccountID, "" for
// the caller's) with req.Amount when it is paid. idempotencyKey works as for Transfer: a
// repeat with the same key returns the same invoice rather than a new one.
func (c *Client) CreateFunding(ctx context.Context, req wire.CreateFundingRequest, idempotencyKey string) (*wire.Funding, error) {
	return call[wire.Funding](ctx, c, http.MethodPost, "/v1/fundings", nil, req, keyOrNew(idempotencyKey))
}

// Funding returns a funding and whether its invoice was paid: Status is open, settled or
// expired.
func (c *Client) Funding(ctx context.Context, id string) (*wire.Funding, error) {
	if id == "" {
		return nil, errors.New("stipend API: Funding: the funding id is empty")
	}
	return call[wire.Funding](ctx, c, http.MethodGet, "/v1/fundings/"+url.PathEscape(id), nil, nil, "")
}

// CreatePayout withdraws to a BOLT11 invoice, a Lightning Address or an LNURL-pay link. The
// payout is sent in the background: the result is usually still requested or in flight, and
// Payout follows it to a final state. idempotencyKey works as for Transfer: a repeat with the
// same key returns the first payout and pays once.
func (c *Client) CreatePayout(ctx context.Context, req wire.CreatePayoutRequest, idempotencyKey string) (*wire.Payout, error) {
	return call[wire.Payout](ctx, c, http.MethodPost, "/v1/payouts", nil, req, keyOrNew(idempotencyKey))
}

// Payout returns a payout, with its proof of payment once it succeeded.
func (c *Client) Payout(ctx context.Context, id string) (*wire.Payout, error) {
	if id == "" {
		return nil, errors.New("stipend API: Payout: the payout id is empty")
	}
	return call[wire.Payout](ctx, c, http.MethodGet, "/v1/payouts/"+url.PathEscape(id), nil, nil, "")
}

// Payouts returns one page of the payouts of an account ("" for the caller's), newest first.
// cursor and limit work as for Transactions.
func (c *Client) Payouts(ctx context.Context, accountID, cursor string, limit int) (*wire.PayoutPage, error) {
	return call[wire.PayoutPage](ctx, c, http.MethodGet, "/v1/payouts", pageQuery(accountID, cursor, limit), nil, "")
}

// CancelPayout cancels a payout that is not yet in flight; its money returns to the account.
// It moves money, so idempotencyKey works as for Transfer.
func (c *Client) CancelPayout(ctx context.Context, id, idempotencyKey string) (*wire.Payout, error) {
	if id == "" {
		return nil, errors.New("stipend API: CancelPayout: the payout id is empty")
	}
	return call[wire.Payout](ctx, c, http.MethodPost, "/v1/payouts/"+url.PathEscape(id)+"/cancel", nil, nil, keyOrNew(idempotencyKey))
}

// PayoutPreferences returns how an account ("" for the caller's) wants each asset paid out.
func (c *Client) PayoutPreferences(ctx context.Context, accountID string) (*wire.PayoutPreferences, error) {
	return call[wire.PayoutPreferences](ctx, c, http.MethodGet, "/v1/payout-preferences", accountQuery(accountID), nil, "")
}

// SetPayoutPreference sets how an account (req.AccountID, "" for the caller's) wants one asset
// ("BTC", "USD", "EUR") paid out: rail "keep" keeps it as a balance; rail "lightning" sweeps it
// to a Lightning Address whenever the available balance reaches req.Minimum. It moves no
// money and is not retried.
func (c *Client) SetPayoutPreference(ctx context.Context, asset string, req wire.SetPayoutPreferenceRequest) (*wire.PayoutPreference, error) {
	if asset == "" {
		return nil, errors.New("stipend API: SetPayoutPreference: the asset is empty")
	}
	return call[wire.PayoutPreference](ctx, c, http.MethodPut, "/v1/payout-preferences/"+url.PathEscape(asset), nil, req, "")
}

func keyOrNew(k string) string {
	if k == "" {
		return NewIdempotencyKey()
	}
	return k
}

func accountQuery(accountID string) url.Values {
	q := url.Values{}
	if accountID != "" {
		q.Set("account_id", accountID)
	}
	return q
}

// pageQuery is the query of one page of a list: the account ("" for the caller's), the cursor
// ("" for the first page) and the page size (0 for the server's default).
func pageQuery(accountID, cursor string, limit int) url.Values {
	q := accountQuery(accountID)
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}

// call sends a request and returns its decoded response, or nil and the error.
func call[T any](ctx context.Context, c *Client, method, path string, q url.Values, in any, idemKey string) (*T, error) {
	var out T
	if err := c.do(ctx, method, path, q, in, idemKey, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// do sends a request and decodes a 2xx response into out. GETs and requests with an
// idempotency key are retried; see the package documentation.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in any, idemKey string, out any) error {
	rec, _ := ctx.Value(responseKey{}).(*Response)
	if rec == nil {
		rec = &Response{}
	}
	*rec = Response{IdempotencyKey: idemKey}

	var body []byte
	var contentType string
	switch v := in.(type) {
	case nil:
	case rawBody:
		// An empty upload is still a body, with its media type: the server says what is
		// wrong with it.
		body, contentType = v.data, v.contentType
		if body == nil {
			body = []byte{}
		}
	default:
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("stipend API: encoding the request: %w", err)
		}
		contentType = "application/json"
	}
	u := c.baseURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	// A malformed base URL is a mistake that no retry cures.
	if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return fmt.Errorf("stipend API: base URL %q: must be http:// or https:// and a host", c.baseURL)
	}
	retryable := method == http.MethodGet || idemKey != ""
	attempts := 1
	if retryable {
		attempts = c.maxAttempts
	}

	for attempt := 1; ; attempt++ {
		rec.Attempts = attempt
		status, header, respBody, err := c.send(ctx, method, u, body, contentType, idemKey)
		// The record describes the last attempt only: after a network error, no response.
		rec.StatusCode, rec.Header, rec.Body = status, header, respBody
		rec.RequestID = header.Get(HeaderRequestID)
		rec.Replayed = header.Get(HeaderIdempotencyReplayed) == "true"
		if err != nil && ctx.Err() != nil {
			return fmt.Errorf("stipend API: %s %s: %w", method, u, ctx.Err())
		}
		again := err != nil || status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout ||
			(idemKey != "" && stillInProgress(status, header, respBody))
		if again && attempt < attempts {
			if werr := sleep(ctx, c.delay(attempt, header)); werr != nil {
				return fmt.Errorf("stipend API: %s %s: %w", method, u, werr)
			}
			continue
		}
		if err != nil {
			// url.Error repeats the method and URL; say them once.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return fmt.Errorf("stipend API: %s %s: %w", method, u, err)
		}
		if status < 200 || status > 299 {
			return newError(status, header, respBody)
		}
		if out != nil {
			if err := json.Unmarshal(respBody, out); err != nil {
				return fmt.Errorf("stipend API: %s %s: decoding the response (HTTP %d): %w", method, u, status, err)
			}
		}
		return nil
	}
}

// send makes one attempt. An error means no complete response arrived.
func (c *Client) send(ctx context.Context, method, u string, body []byte, contentType, idemKey string) (int, http.Header, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return 0, nil, nil, err
	}
	// The request was made with a bytes.Reader so that it has its ContentLength; a caller
	// who follows the upload gets a body that counts what the transport reads, each time
	// the transport asks for the body again too.
	if fn, _ := ctx.Value(progressKey{}).(func(sent, total int64)); fn != nil && len(body) > 0 {
		up := &uploadProgress{fn: fn}
		defer up.stop()
		req.Body = up.body(body)
		req.GetBody = func() (io.ReadCloser, error) { return up.body(body), nil }
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", c.userAgent)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	if idemKey != "" {
		req.Header.Set(HeaderIdempotencyKey, idemKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("reading the response: %w", err)
	}
	if len(b) > maxResponseBytes {
		return 0, nil, nil, fmt.Errorf("the response is larger than %d bytes", maxResponseBytes)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// uploadProgress passes the progress of one attempt's body to the caller's function, one
// call at a time, until stop: the transport may still read the body after the response came
// (or the attempt failed), and the caller must not hear of it once the call has returned.
type uploadProgress struct {
	mu      sync.Mutex
	fn      func(sent, total int64)
	stopped bool
}

// body returns a fresh reader of b that reports its progress.
func (p *uploadProgress) body(b []byte) io.ReadCloser {
	return io.NopCloser(&countingReader{r: bytes.NewReader(b), total: int64(len(b)), progress: p})
}

func (p *uploadProgress) report(sent, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		p.fn(sent, total)
	}
}

// stop ends the reports, after waiting for one under way.
func (p *uploadProgress) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
}

// countingReader reads a body and reports how much of it has been read.
type countingReader struct {
	r           *bytes.Reader
	sent, total int64
	progress    *uploadProgress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if n > 0 {
		c.sent += int64(n)
		c.progress.report(c.sent, c.total)
	}
	return n, err
}

// stillInProgress reports whether a response is the server's "a request with this
// Idempotency-Key is still in progress; retry later": a 409 whose problem code is "conflict"
// and which carries Retry-After. The request it answers did not run, so sending it again with
// the same key is safe and is what the server asks for. Any other 409, such as
// "idempotency_mismatch", is a final answer.
func stillInProgress(status int, h http.Header, body []byte) bool {
	if status != http.StatusConflict || h.Get("Retry-After") == "" {
		return false
	}
	var p wire.Problem
	return json.Unmarshal(body, &p) == nil && p.Code == "conflict"
}

// delay is the wait before retry number attempt: exponential backoff with jitter, or the
// server's Retry-After when that is longer (within a bound).
func (c *Client) delay(attempt int, h http.Header) time.Duration {
	d := c.backoff << (attempt - 1)
	if d <= 0 || d > maxBackoff {
		d = maxBackoff
	}
	// Full jitter over the upper half keeps clients that failed together from retrying
	// together.
	d = d/2 + rand.N(d/2+1)
	if ra := retryAfter(h); ra > 0 {
		d = max(d, min(ra, maxBackoff))
	}
	return d
}

// retryAfter reads a Retry-After header, which RFC 9110 allows as seconds or as an HTTP
// date, and returns 0 when there is none or it cannot be read.
func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s <= 0 {
			return 0
		}
		// Anything beyond the cap is capped anyway; this also keeps the product from
		// overflowing.
		return time.Duration(min(s, int(maxBackoff/time.Second)+1)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// newError decodes an error response. A body that is not a problem (from a proxy or load
// balancer, say) still gives a readable error.
func newError(status int, h http.Header, body []byte) *Error {
	e := &Error{StatusCode: status}
	if err := json.Unmarshal(body, &e.Problem); err != nil || e.Problem.Code == "" {
		e.Problem = wire.Problem{Status: status, Title: http.StatusText(status),
			Detail: fmt.Sprintf("the server answered %d %s", status, http.StatusText(status))}
		// An HTML error page says nothing a terminal can show well; plain text usually does.
		if s := snippet(body); s != "" && !strings.Contains(h.Get("Content-Type"), "html") {
			e.Problem.Detail += ": " + s
		}
	}
	if e.Problem.Status == 0 {
		e.Problem.Status = status
	}
	if e.Problem.RequestID == "" {
		e.Problem.RequestID = h.Get(HeaderRequestID)
	}
	if e.Problem.Detail == "" {
		e.Problem.Detail = e.Problem.Title
	}
	return e
}

// snippet returns the start of a non-problem error body as one line of printable text.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
