package bounties

import (
	"context"
	"time"

	"github.com/stipend/stipend/payments/ledger"
)

// Filter selects bounties for the public list, newest first.
type Filter struct {
	Status    string // "" for any
	Kind      string
	SponsorID string
	Query     string // words of the title or description
	Cursor    string
	Limit     int
}

// Claim reserves a unit of work for a contributor until it expires, so that two people do not
// do the same work and nobody holds work for ever.
type Claim struct {
	ID        string
	BountyID  string
	AccountID string
	Status    string // active, submitted, released, expired
	ExpiresAt time.Time
	CreatedAt time.Time
}

// Claim states.
const (
	ClaimActive    = "active"
	ClaimSubmitted = "submitted"
	ClaimReleased  = "released"
)

// Submission is work handed in for review.
type Submission struct {
	ID        string
	BountyID  string
	AccountID string
	ClaimID   string
	Evidence  string
	Status    string // pending, approved, rejected
	Reason    string
	DecidedBy string
	LedgerTx  string
	CreatedAt time.Time
	DecidedAt *time.Time
}

// Submission states.
const (
	SubmissionPending  = "pending"
	SubmissionApproved = "approved"
	SubmissionRejected = "rejected"
)

// Statement is a bounty's public account: what came in, what was paid and to whom, what went
// back.
type Statement struct {
	Bounty          Bounty
	FundedRewards   int64 // rewards the sponsor put in
	FundedFees      int64 // fees the sponsor put in
	PaidRewards     int64 // rewards paid to contributors, linked or pending
	FeesEarned      int64 // fees the platform took, one unit's fee per paid unit
	Refunded        int64 // returned to the sponsor from escrow
	UnclaimedReturn int64 // pending rewards returned to the sponsor at the deadline
	Escrow          int64 // left in escrow
	Pending         int64 // waiting for GitHub logins to be linked
	Transactions    []ledger.Transaction
	NextCursor      string
}

// Store keeps bounties. Every method that moves money does so in the same database
// transaction as the state change it belongs to.
type Store interface {
	// CreateBounty stores b as open with its reviewers, moves reward × units plus fees from
	// the sponsor into escrow, and schedules its expiry at the deadline, in one transaction. A
	// key used before returns the bounty it made.
	// Returns EINSUFFICIENTFUNDS and ENOTFOUND (a reviewer).
	CreateBounty(ctx context.Context, b *Bounty, key string) (*Bounty, error)

	// Bounty returns a bounty. Returns ENOTFOUND.
	Bounty(ctx context.Context, id string) (*Bounty, error)

	// Bounties lists bounties. Returns EINVALID for a bad cursor or limit.
	Bounties(ctx context.Context, f Filter) ([]Bounty, string, error)

	// TopUp adds units to an open bounty and funds them. Returns ECONFLICT (not open) and
	// EINSUFFICIENTFUNDS.
	TopUp(ctx context.Context, id string, units int, key string) (*Bounty, error)

	// Close ends an open bounty with status (Cancelled or Expired) and returns what is left
	// in its escrow to the sponsor, once. Returns ECONFLICT when it is not open.
	Close(ctx context.Context, id, status string) (*Bounty, error)

	// ReturnUnclaimed sends the rewards still pending for unlinked GitHub logins back to the
	// sponsor and reports how much went back. Sending nothing is no error.
	ReturnUnclaimed(ctx context.Context, id string) (int64, error)

	// RecordResults records CI results for an open bounty and, in the same transaction, pays
	// each new passing result while units are left. Each (run id, test) is recorded once.
	// Returns ECONFLICT (not open) and ENOTFOUND.
	RecordResults(ctx context.Context, id string, rs []Result, reporter string) ([]Verdict, error)

	// ClaimUnit reserves a unit for an account. Returns ECONFLICT (not open, no unit free, or
	// the account holds a claim already).
	ClaimUnit(ctx context.Context, c *Claim) (*Claim, error)

	// ReleaseClaim gives an active claim up. Returns ENOTFOUND and ECONFLICT.
	ReleaseClaim(ctx context.Context, bountyID, claimID, accountID string) (*Claim, error)

	// Submit stores a submission, turning its claim, if any, into a submitted one.
	// Returns ECONFLICT and ENOTFOUND (the claim).
	Submit(ctx context.Context, s *Submission) (*Submission, error)

	// Submission returns a submission of a bounty. Returns ENOTFOUND.
	Submission(ctx context.Context, bountyID, id string) (*Submission, error)

	// Submissions lists a bounty's submissions, newest first.
	Submissions(ctx context.Context, bountyID string) ([]Submission, error)

	// Decide approves (paying one unit to the submitter in the same transaction) or rejects a
	// pending submission. Returns ENOTFOUND and ECONFLICT (decided already, bounty not open,
	// no unit left).
	Decide(ctx context.Context, bountyID, id string, approve bool, reason, decidedBy string) (*Submission, error)

	// LinkGitHub records that an account owns a GitHub login and moves the login's pending
	// rewards into the account. Returns ECONFLICT (the login is another account's).
	LinkGitHub(ctx context.Context, login, accountID, via string) (moved []ledger.Amount, err error)

	// GitHubLogin returns the login linked to an account, or "".
	GitHubLogin(ctx context.Context, accountID string) (string, error)

	// Statement returns a bounty's public account with a page of its transactions.
	Statement(ctx context.Context, id, cursor string, limit int) (*Statement, error)
}
