// Package bounties is Stipend's first product flow: sponsors fund small tasks (test runs,
// docs fixes, issue triage), CI systems and reviewers accept results, and every accepted unit
// pays its contributor out of the bounty's escrow.
//
// Creating a bounty moves reward × units plus the platform fee into the bounty's escrow
// account. Each accepted unit moves one reward to its contributor and one unit's fee to the
// platform, in the same database transaction as the acceptance. Cancellation, and the
// deadline, return whatever is left to the sponsor; nothing is ever forfeited. Contributors
// without an account are named by GitHub login: their rewards wait in a pending account of
// the bounty until the login is linked to an account, and return to the sponsor at the
// deadline if it never is.
package bounties

import (
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
)

// Kinds of bounty.
const (
	KindTestRun = "test_run"
	KindDocs    = "docs"
	KindTriage  = "triage"
	KindCustom  = "custom"
)

// Approval modes: CI accepts passing results reported with a CI token; review needs a
// reviewer (or the sponsor) to approve each submission.
const (
	ApprovalCI     = "ci"
	ApprovalReview = "review"
)

// Bounty states. Only an open bounty accepts work; a cancelled one still pays nothing more
// but keeps its contributors' pending rewards until the deadline.
const (
	Open      = "open"
	Cancelled = "cancelled"
	Expired   = "expired"
)

// Bounty is a funded task.
type Bounty struct {
	ID          string
	SponsorID   string
	Kind        string
	Title       string
	Description string
	Link        string
	Reward      ledger.Amount // per accepted unit
	FeePerUnit  int64         // the platform's fee per unit, in the reward's asset
	FeeBPS      int64         // the fee rate the bounty was created at
	Units       int
	UnitsPaid   int
	Approval    string
	Reviewers   []string // account ids that may approve, besides the sponsor
	ClaimWindow time.Duration
	Status      string
	Deadline    time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ClosedAt    *time.Time
}

// UnitsLeft is how many units can still be paid.
func (b *Bounty) UnitsLeft() int { return b.Units - b.UnitsPaid }

// NewBounty is a bounty to create.
type NewBounty struct {
	Kind        string
	Title       string
	Description string
	Link        string
	Reward      ledger.Amount
	Units       int
	Approval    string
	Reviewers   []string // ids or handles
	ClaimWindow time.Duration
	Deadline    time.Time
}

// Limits of a bounty.
const (
	MaxUnits       = 1_000_000
	maxTitle       = 200
	maxDescription = 10_000
	maxReviewers   = 20
	maxClaimWindow = 30 * 24 * time.Hour
	maxDuration    = 366 * 24 * time.Hour
)

// Validate checks a new bounty against now. Returns EINVALID naming the field.
func (n *NewBounty) Validate(now time.Time) error {
	switch n.Kind {
	case KindTestRun, KindDocs, KindTriage, KindCustom:
	default:
		return stipend.Errorf(stipend.EINVALID, "kind: must be test_run, docs, triage or custom")
	}
	if err := stipend.CheckText("title", n.Title, maxTitle, false); err != nil {
		return err
	}
	if err := stipend.CheckText("description", n.Description, maxDescription, true); err != nil {
		return err
	}
	if n.Link != "" {
		u, err := url.Parse(n.Link)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(n.Link) > 2000 {
			return stipend.Errorf(stipend.EINVALID, "link: must be an http(s) URL")
		}
	}
	if err := n.Reward.CheckPositive("reward"); err != nil {
		return err
	}
	if n.Units < 1 || n.Units > MaxUnits {
		return stipend.Errorf(stipend.EINVALID, "units: must be between 1 and %d", MaxUnits)
	}
	switch n.Approval {
	case ApprovalCI:
		if len(n.Reviewers) > 0 {
			return stipend.Errorf(stipend.EINVALID, "reviewers: only a review bounty has reviewers")
		}
	case ApprovalReview:
		if len(n.Reviewers) > maxReviewers {
			return stipend.Errorf(stipend.EINVALID, "reviewers: at most %d", maxReviewers)
		}
	default:
		return stipend.Errorf(stipend.EINVALID, "approval: must be ci or review")
	}
	if n.ClaimWindow < 0 || n.ClaimWindow > maxClaimWindow {
		return stipend.Errorf(stipend.EINVALID, "claim_window: between 0 (no claims) and 30 days")
	}
	if !n.Deadline.After(now) {
		return stipend.Errorf(stipend.EINVALID, "deadline: must be in the future")
	}
	if n.Deadline.After(now.Add(maxDuration)) {
		return stipend.Errorf(stipend.EINVALID, "deadline: at most a year ahead")
	}
	return nil
}

// FeePerUnit is the platform fee on one unit of reward at bps basis points, rounded up to
// the asset's minor unit so that the platform never charges less than its rate.
func FeePerUnit(reward int64, bps int64) (int64, error) {
	if reward <= 0 || bps < 0 || bps > 10_000 {
		return 0, stipend.Errorf(stipend.EINVALID, "fee: reward and rate out of range")
	}
	// reward*bps could overflow int64 for very large rewards; split it.
	q, r := reward/10_000, reward%10_000
	fee := q*bps + (r*bps+9_999)/10_000
	return fee, nil
}

// Cost is what funding units of a bounty costs its sponsor: the rewards and the fees.
// Returns EINVALID on overflow.
func Cost(reward, feePerUnit int64, units int) (rewards, fees int64, err error) {
	if units < 0 || reward <= 0 || feePerUnit < 0 {
		return 0, 0, stipend.Errorf(stipend.EINVALID, "units: must be positive")
	}
	per := reward + feePerUnit
	if per < reward || (units > 0 && per > math.MaxInt64/int64(units)) {
		return 0, 0, stipend.Errorf(stipend.EINVALID, "reward × units is too large")
	}
	return reward * int64(units), feePerUnit * int64(units), nil
}

// EscrowAddress is the ledger account that holds a bounty's unpaid rewards and fees.
func EscrowAddress(bountyID string) string { return "escrow:bounty:" + bountyID }

// PendingAddress is the account where a bounty's rewards for a GitHub login without a Stipend
// account wait for the login to be linked.
func PendingAddress(bountyID, login string) string {
	return "pending:" + bountyID + ":" + strings.ToLower(login)
}

// ValidLogin reports whether s has the shape of a GitHub login: 1 to 39 ASCII letters,
// digits and single hyphens, not at either end.
func ValidLogin(s string) bool {
	if len(s) == 0 || len(s) > 39 || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
