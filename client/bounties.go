package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/stipend/stipend/api/wire"
)

// Formats of an upload of CI results (ReportResults).
const (
	// FormatJSON is Stipend's own format: a JSON array of {run_id, test, outcome,
	// contributor, duration, url}.
	FormatJSON = "json"
	// FormatJUnit is JUnit XML, as most test runners write it.
	FormatJUnit = "junit"
	// FormatGoTestJSON is the output of `go test -json`.
	FormatGoTestJSON = "go-test-json"
)

// resultsMediaTypes are the media types the server reads each format from.
var resultsMediaTypes = map[string]string{
	FormatJSON:       "application/json",
	FormatJUnit:      "application/xml",
	FormatGoTestJSON: "application/x-ndjson",
}

// rawBody is a request body sent as it is, with its own media type, rather than encoded as
// JSON: an upload of CI results. Every attempt sends the same bytes.
type rawBody struct {
	data        []byte
	contentType string
}

// BountyFilter selects bounties for Bounties. Every field is optional.
type BountyFilter struct {
	Status    string // open, cancelled or expired
	Kind      string // test_run, docs, triage or custom
	SponsorID string // only this sponsor's bounties
	Query     string // words of the title or description
	Cursor    string // "" for the first page, the previous page's NextCursor after that
	Limit     int    // the page size, 0 for the server's default
}

// CreateBounty creates a bounty and funds it: req.Reward × req.Units, plus the platform fee
// on top, move from the sponsor (req.SponsorID, "" for the caller's own account) into the
// bounty's escrow. The result shows the fee per unit and the whole cost. It needs a key with
// the bounties:write scope. idempotencyKey works as for Transfer: a repeat with the same key
// returns the first bounty and funds it once.
func (c *Client) CreateBounty(ctx context.Context, req wire.CreateBountyRequest, idempotencyKey string) (*wire.Bounty, error) {
	return call[wire.Bounty](ctx, c, http.MethodPost, "/v1/bounties", nil, req, keyOrNew(idempotencyKey))
}

// Bounty returns a bounty. Bounties are public: no API key is needed.
func (c *Client) Bounty(ctx context.Context, id string) (*wire.Bounty, error) {
	if id == "" {
		return nil, errors.New("stipend API: Bounty: the bounty id is empty")
	}
	return call[wire.Bounty](ctx, c, http.MethodGet, bountyPath(id, ""), nil, nil, "")
}

// Bounties returns one page of the bounties that f selects, newest first. The list is
// public: no API key is needed.
func (c *Client) Bounties(ctx context.Context, f BountyFilter) (*wire.BountyPage, error) {
	q := pageQuery("", f.Cursor, f.Limit)
	for k, v := range map[string]string{"status": f.Status, "kind": f.Kind, "sponsor_id": f.SponsorID, "q": f.Query} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return call[wire.BountyPage](ctx, c, http.MethodGet, "/v1/bounties", q, nil, "")
}

// BountyStatement returns a bounty's public account: what was funded, the fees, what was
// paid and refunded, what is in escrow and what waits for GitHub logins to be linked, with
// one page of its ledger transactions, newest first. cursor and limit work as for
// Transactions. No API key is needed.
func (c *Client) BountyStatement(ctx context.Context, id, cursor string, limit int) (*wire.BountyStatement, error) {
	if id == "" {
		return nil, errors.New("stipend API: BountyStatement: the bounty id is empty")
	}
	return call[wire.BountyStatement](ctx, c, http.MethodGet, bountyPath(id, "/statement"), pageQuery("", cursor, limit), nil, "")
}

// TopUpBounty buys units more of an open bounty, with their fees, from its sponsor.
// idempotencyKey works as for Transfer: a repeat with the same key buys them once.
func (c *Client) TopUpBounty(ctx context.Context, id string, units int, idempotencyKey string) (*wire.Bounty, error) {
	if id == "" {
		return nil, errors.New("stipend API: TopUpBounty: the bounty id is empty")
	}
	return call[wire.Bounty](ctx, c, http.MethodPost, bountyPath(id, "/topup"), nil, wire.TopUpRequest{Units: units}, keyOrNew(idempotencyKey))
}

// CancelBounty cancels an open bounty; what is left in its escrow returns to the sponsor. It
// moves money, so idempotencyKey works as for Transfer.
func (c *Client) CancelBounty(ctx context.Context, id, idempotencyKey string) (*wire.Bounty, error) {
	if id == "" {
		return nil, errors.New("stipend API: CancelBounty: the bounty id is empty")
	}
	return call[wire.Bounty](ctx, c, http.MethodPost, bountyPath(id, "/cancel"), nil, nil, keyOrNew(idempotencyKey))
}

// ReportResults uploads CI results to a bounty, which pays each new passing result while
// units last. It needs a CI token of the bounty's sponsor (a key with the scope ci:report,
// or ci:report:<bounty id>). format is FormatJSON, FormatJUnit or FormatGoTestJSON, and is
// sent as the body's Content-Type. runID and contributor, unless empty, are the run and
// the GitHub login for results that name none, which JUnit and go test output never do.
//
// The body is read whole before the first attempt, so that every attempt sends the same
// bytes with the same Idempotency-Key, query and Content-Type: the server then runs the
// upload at most once, and a retry gets the first report back. idempotencyKey works as for
// Transfer. WithUploadProgress follows the sending of a large body.
//
// A report that pays nothing (duplicates, failing tests, no units left) is not an error:
// the counts and each result's verdict say what happened.
func (c *Client) ReportResults(ctx context.Context, bountyID, format, runID, contributor string, body io.Reader, idempotencyKey string) (*wire.ResultsReport, error) {
	if bountyID == "" {
		return nil, errors.New("stipend API: ReportResults: the bounty id is empty")
	}
	mediaType, ok := resultsMediaTypes[format]
	if !ok {
		return nil, fmt.Errorf("stipend API: ReportResults: format %q: must be %s, %s or %s", format, FormatJSON, FormatJUnit, FormatGoTestJSON)
	}
	if body == nil {
		return nil, errors.New("stipend API: ReportResults: the body is nil")
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("stipend API: ReportResults: reading the results: %w", err)
	}
	q := url.Values{}
	if runID != "" {
		q.Set("run_id", runID)
	}
	if contributor != "" {
		q.Set("contributor", contributor)
	}
	return call[wire.ResultsReport](ctx, c, http.MethodPost, bountyPath(bountyID, "/results"), q,
		rawBody{data: data, contentType: mediaType}, keyOrNew(idempotencyKey))
}

// ClaimBounty reserves a unit of a bounty for the caller for the bounty's claim window. It
// is not retried.
func (c *Client) ClaimBounty(ctx context.Context, id string) (*wire.Claim, error) {
	if id == "" {
		return nil, errors.New("stipend API: ClaimBounty: the bounty id is empty")
	}
	return call[wire.Claim](ctx, c, http.MethodPost, bountyPath(id, "/claims"), nil, nil, "")
}

// ReleaseClaim gives up one of the caller's claims on a bounty.
func (c *Client) ReleaseClaim(ctx context.Context, bountyID, claimID string) (*wire.Claim, error) {
	if bountyID == "" || claimID == "" {
		return nil, errors.New("stipend API: ReleaseClaim: the bounty id or the claim id is empty")
	}
	return call[wire.Claim](ctx, c, http.MethodDelete, bountyPath(bountyID, "/claims/"+url.PathEscape(claimID)), nil, nil, "")
}

// Submit hands in work for a review bounty, with evidence such as a pull request's URL, and
// the claim it fulfils, if any. It is not retried.
func (c *Client) Submit(ctx context.Context, bountyID string, req wire.CreateSubmissionRequest) (*wire.Submission, error) {
	if bountyID == "" {
		return nil, errors.New("stipend API: Submit: the bounty id is empty")
	}
	return call[wire.Submission](ctx, c, http.MethodPost, bountyPath(bountyID, "/submissions"), nil, req, "")
}

// Submissions lists a bounty's submissions: all of them for its sponsor and reviewers, the
// caller's own for anyone else.
func (c *Client) Submissions(ctx context.Context, bountyID string) (*wire.SubmissionList, error) {
	if bountyID == "" {
		return nil, errors.New("stipend API: Submissions: the bounty id is empty")
	}
	return call[wire.SubmissionList](ctx, c, http.MethodGet, bountyPath(bountyID, "/submissions"), nil, nil, "")
}

// ApproveSubmission approves a submission, which pays its submitter one unit; only the
// bounty's sponsor and reviewers may. idempotencyKey works as for Transfer: a repeat with the
// same key pays once.
func (c *Client) ApproveSubmission(ctx context.Context, bountyID, submissionID, idempotencyKey string) (*wire.Submission, error) {
	if bountyID == "" || submissionID == "" {
		return nil, errors.New("stipend API: ApproveSubmission: the bounty id or the submission id is empty")
	}
	return call[wire.Submission](ctx, c, http.MethodPost, bountyPath(bountyID, "/submissions/"+url.PathEscape(submissionID)+"/approve"),
		nil, nil, keyOrNew(idempotencyKey))
}

// RejectSubmission rejects a submission with a reason, which its submitter sees; only the
// bounty's sponsor and reviewers may. It moves no money and is not retried.
func (c *Client) RejectSubmission(ctx context.Context, bountyID, submissionID, reason string) (*wire.Submission, error) {
	if bountyID == "" || submissionID == "" {
		return nil, errors.New("stipend API: RejectSubmission: the bounty id or the submission id is empty")
	}
	return call[wire.Submission](ctx, c, http.MethodPost, bountyPath(bountyID, "/submissions/"+url.PathEscape(submissionID)+"/reject"),
		nil, wire.RejectRequest{Reason: reason}, "")
}

// LinkGitHub links a GitHub login to an account, after the operator checked outside Stipend
// that the login is the account holder's, and moves the rewards pending for the login into
// the account. It needs an admin key. idempotencyKey works as for Transfer.
func (c *Client) LinkGitHub(ctx context.Context, req wire.GitHubLinkRequest, idempotencyKey string) (*wire.GitHubLink, error) {
	return call[wire.GitHubLink](ctx, c, http.MethodPost, "/v1/admin/github-links", nil, req, keyOrNew(idempotencyKey))
}

// StartGitHubLink begins linking the caller's own account to a GitHub login: the result is
// the GitHub page where the person signs in, good until ExpiresAt. GitHub then shows them a
// confirmation code on Stipend's callback page, which ConfirmGitHubLink takes. It needs a key
// with the keys:write scope.
func (c *Client) StartGitHubLink(ctx context.Context) (*wire.GitHubLinkStart, error) {
	return call[wire.GitHubLinkStart](ctx, c, http.MethodPost, "/v1/github/link", nil, nil, "")
}

// ConfirmGitHubLink finishes what StartGitHubLink began: code is the confirmation code the
// callback page showed. The login is linked to the caller's account and the rewards pending
// for it move in. idempotencyKey works as for Transfer.
func (c *Client) ConfirmGitHubLink(ctx context.Context, code, idempotencyKey string) (*wire.GitHubLink, error) {
	if code == "" {
		return nil, errors.New("stipend API: ConfirmGitHubLink: the code is empty")
	}
	return call[wire.GitHubLink](ctx, c, http.MethodPost, "/v1/github/link/confirm", nil, wire.GitHubLinkConfirmRequest{Code: code}, keyOrNew(idempotencyKey))
}

// bountyPath is the path of a bounty, or of rest below it.
func bountyPath(id, rest string) string {
	return "/v1/bounties/" + url.PathEscape(id) + rest
}
