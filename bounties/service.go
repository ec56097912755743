package bounties

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/internal/jobs"
	"github.com/stipend/stipend/payments"
	"github.com/stipend/stipend/payments/ledger"
)

// JobExpire closes a bounty at its deadline.
const JobExpire = "bounty.expire"

// ExpireJob is the payload of a JobExpire job.
type ExpireJob struct {
	BountyID string `json:"bounty_id"`
}

// Options configure a Service.
type Options struct {
	FeeBPS int64 // the platform fee, in basis points
	Logger *slog.Logger
	Now    func() time.Time
	// GitHub, when set, lets people link their GitHub logins themselves; LinkKey signs the
	// codes of that flow and must be secret and the same on every server.
	GitHub  GitHubAuth
	LinkKey []byte
}

// Service runs bounties.
type Service struct {
	store    Store
	accounts *accounts.Service
	opts     Options
}

// NewService returns a Service.
func NewService(store Store, acc *accounts.Service, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{store: store, accounts: acc, opts: opts}
}

func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// Create makes a bounty sponsored by sponsorID ("" for the caller's own account, or an
// organisation the caller owns) and funds it. A request retried with the same idempotency key
// returns the bounty it made.
//
// Returns EFORBIDDEN, EINVALID, ENOTFOUND (a reviewer) and EINSUFFICIENTFUNDS.
func (s *Service) Create(ctx context.Context, actor *accounts.Principal, sponsorID string, n NewBounty, idempotencyKey string) (*Bounty, error) {
	if err := accounts.Require(actor, accounts.ScopeBounties); err != nil {
		return nil, err
	}
	if sponsorID == "" {
		sponsorID = actor.Account.ID
	}
	if err := s.accounts.Authorize(ctx, actor, sponsorID, accounts.Spend); err != nil {
		return nil, err
	}
	now := s.now()
	if err := n.Validate(now); err != nil {
		return nil, err
	}
	fee, err := FeePerUnit(n.Reward.Value, s.opts.FeeBPS)
	if err != nil {
		return nil, err
	}
	if _, _, err := Cost(n.Reward.Value, fee, n.Units); err != nil {
		return nil, err
	}
	var reviewers []string
	for _, r := range n.Reviewers {
		a, err := s.accounts.Resolve(ctx, r)
		if err != nil {
			return nil, stipend.Errorf(stipend.ENOTFOUND, "reviewers: no account %q", r)
		}
		if !slices.Contains(reviewers, a.ID) {
			reviewers = append(reviewers, a.ID)
		}
	}
	b := &Bounty{
		ID: stipend.NewID("bnt"), SponsorID: sponsorID, Kind: n.Kind, Title: n.Title, Description: n.Description,
		Link: n.Link, Reward: n.Reward, FeePerUnit: fee, FeeBPS: s.opts.FeeBPS, Units: n.Units, Approval: n.Approval,
		Reviewers: reviewers, ClaimWindow: n.ClaimWindow, Status: Open, Deadline: n.Deadline.UTC().Truncate(time.Microsecond),
		CreatedAt: now, UpdatedAt: now,
	}
	return s.store.CreateBounty(ctx, b, payments.EventKey("bounty", actor.Account.ID, idempotencyKey))
}

// Get returns a bounty; bounties are public. Returns ENOTFOUND.
func (s *Service) Get(ctx context.Context, id string) (*Bounty, error) {
	return s.store.Bounty(ctx, id)
}

// List returns bounties; the list is public. Returns EINVALID.
func (s *Service) List(ctx context.Context, f Filter) ([]Bounty, string, error) {
	switch f.Status {
	case "", Open, Cancelled, Expired:
	default:
		return nil, "", stipend.Errorf(stipend.EINVALID, "status: must be open, cancelled or expired")
	}
	switch f.Kind {
	case "", KindTestRun, KindDocs, KindTriage, KindCustom:
	default:
		return nil, "", stipend.Errorf(stipend.EINVALID, "kind: must be test_run, docs, triage or custom")
	}
	if err := stipend.CheckText("q", f.Query, 100, true); err != nil {
		return nil, "", err
	}
	return s.store.Bounties(ctx, f)
}

// sponsored loads a bounty and checks that the actor may act for its sponsor.
// Returns ENOTFOUND and EFORBIDDEN.
func (s *Service) sponsored(ctx context.Context, actor *accounts.Principal, id string) (*Bounty, error) {
	if err := accounts.Require(actor, accounts.ScopeBounties); err != nil {
		return nil, err
	}
	b, err := s.store.Bounty(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.accounts.Authorize(ctx, actor, b.SponsorID, accounts.Spend); err != nil {
		return nil, stipend.Errorf(stipend.EFORBIDDEN, "only the sponsor of bounty %s may do this", id)
	}
	return b, nil
}

// TopUp buys more units of an open bounty. Returns EFORBIDDEN, EINVALID, ENOTFOUND,
// ECONFLICT (not open) and EINSUFFICIENTFUNDS.
func (s *Service) TopUp(ctx context.Context, actor *accounts.Principal, id string, units int, idempotencyKey string) (*Bounty, error) {
	b, err := s.sponsored(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if units < 1 || b.Units+units > MaxUnits {
		return nil, stipend.Errorf(stipend.EINVALID, "units: between 1 and %d in all", MaxUnits)
	}
	if _, _, err := Cost(b.Reward.Value, b.FeePerUnit, units); err != nil {
		return nil, err
	}
	return s.store.TopUp(ctx, id, units, payments.EventKey("bounty_topup", actor.Account.ID, idempotencyKey))
}

// Cancel closes an open bounty; what is left in escrow returns to the sponsor. Rewards already
// pending for unlinked GitHub logins wait for their owners until the deadline.
// Returns EFORBIDDEN, ENOTFOUND and ECONFLICT (not open).
func (s *Service) Cancel(ctx context.Context, actor *accounts.Principal, id string) (*Bounty, error) {
	if _, err := s.sponsored(ctx, actor, id); err != nil {
		return nil, err
	}
	return s.store.Close(ctx, id, Cancelled)
}

// HandleExpire is the JobExpire handler, which runs at a bounty's deadline: an open bounty
// expires and its escrow returns to the sponsor; the rewards no GitHub login came for return
// too. Both happen at most once, however many times the job runs.
func (s *Service) HandleExpire(ctx context.Context, j jobs.Job) error {
	var p ExpireJob
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return err
	}
	b, err := s.store.Bounty(ctx, p.BountyID)
	if err != nil {
		return err
	}
	if wait := b.Deadline.Sub(s.now()); wait > 0 {
		return jobs.Snooze(wait)
	}
	if _, err := s.store.Close(ctx, b.ID, Expired); err != nil && stipend.ErrorCode(err) != stipend.ECONFLICT {
		return err
	}
	back, err := s.store.ReturnUnclaimed(ctx, b.ID)
	if err != nil {
		return err
	}
	if back > 0 {
		s.opts.Logger.Info("unclaimed rewards returned to the sponsor", "bounty_id", b.ID, "amount", ledger.Amount{Value: back, Asset: b.Reward.Asset}.String())
	}
	return nil
}

// CanReport reports whether a key may report CI results for a bounty: it must belong to the
// sponsor and carry ci:report, for all the sponsor's bounties or for this one.
func CanReport(actor *accounts.Principal, b *Bounty) bool {
	return actor.Account.ID == b.SponsorID && actor.Key.AllowsFor(accounts.ScopeCIReport, b.ID)
}

// CheckReporter returns nil when the actor may report CI results for the bounty, so that an
// upload is refused before it is read or parsed. Returns ENOTFOUND, EFORBIDDEN (not a CI
// token of the sponsor) and EINVALID (not a CI bounty).
func (s *Service) CheckReporter(ctx context.Context, actor *accounts.Principal, id string) error {
	_, err := s.reportable(ctx, actor, id)
	return err
}

func (s *Service) reportable(ctx context.Context, actor *accounts.Principal, id string) (*Bounty, error) {
	b, err := s.store.Bounty(ctx, id)
	if err != nil {
		return nil, err
	}
	if !CanReport(actor, b) {
		return nil, stipend.Errorf(stipend.EFORBIDDEN, "results for bounty %s need a CI token of its sponsor with the ci:report scope", id)
	}
	if b.Approval != ApprovalCI {
		return nil, stipend.Errorf(stipend.EINVALID, "bounty %s is approved by review; CI results cannot pay it", id)
	}
	return b, nil
}

// Report records CI results for a bounty and pays the new passing ones while units last.
// Returns ENOTFOUND, EFORBIDDEN (not a CI token of the sponsor), EINVALID (not a CI bounty)
// and ECONFLICT (not open).
func (s *Service) Report(ctx context.Context, actor *accounts.Principal, id string, rs []Result) ([]Verdict, error) {
	if _, err := s.reportable(ctx, actor, id); err != nil {
		return nil, err
	}
	return s.store.RecordResults(ctx, id, rs, actor.Key.ID)
}

// Claim reserves a unit of an open bounty for the caller for the bounty's claim window.
// Returns ENOTFOUND, EINVALID (the bounty takes no claims) and ECONFLICT.
func (s *Service) Claim(ctx context.Context, actor *accounts.Principal, id string) (*Claim, error) {
	b, err := s.store.Bounty(ctx, id)
	if err != nil {
		return nil, err
	}
	if b.ClaimWindow == 0 {
		return nil, stipend.Errorf(stipend.EINVALID, "bounty %s takes no claims: just submit your work", id)
	}
	if b.SponsorID == actor.Account.ID {
		return nil, stipend.Errorf(stipend.EINVALID, "a sponsor cannot claim their own bounty")
	}
	now := s.now()
	expires := now.Add(b.ClaimWindow)
	if expires.After(b.Deadline) {
		expires = b.Deadline
	}
	return s.store.ClaimUnit(ctx, &Claim{ID: stipend.NewID("clm"), BountyID: id, AccountID: actor.Account.ID,
		Status: ClaimActive, ExpiresAt: expires, CreatedAt: now})
}

// ReleaseClaim gives up the caller's claim. Returns ENOTFOUND and ECONFLICT.
func (s *Service) ReleaseClaim(ctx context.Context, actor *accounts.Principal, id, claimID string) (*Claim, error) {
	return s.store.ReleaseClaim(ctx, id, claimID, actor.Account.ID)
}

// Submit hands in work for a review bounty, with evidence such as a pull request's URL.
// Returns ENOTFOUND, EINVALID and ECONFLICT.
func (s *Service) Submit(ctx context.Context, actor *accounts.Principal, id, evidence, claimID string) (*Submission, error) {
	b, err := s.store.Bounty(ctx, id)
	if err != nil {
		return nil, err
	}
	if b.Approval != ApprovalReview {
		return nil, stipend.Errorf(stipend.EINVALID, "bounty %s is paid by CI results, not by review", id)
	}
	if b.SponsorID == actor.Account.ID {
		return nil, stipend.Errorf(stipend.EINVALID, "a sponsor cannot submit to their own bounty")
	}
	if err := stipend.CheckText("evidence", strings.TrimSpace(evidence), 2000, false); err != nil {
		return nil, err
	}
	return s.store.Submit(ctx, &Submission{ID: stipend.NewID("sub"), BountyID: id, AccountID: actor.Account.ID,
		ClaimID: claimID, Evidence: strings.TrimSpace(evidence), Status: SubmissionPending, CreatedAt: s.now()})
}

// reviewer checks that the actor may review a bounty's submissions: the sponsor (or an owner
// of a sponsoring organisation) or one of its reviewers. Returns EFORBIDDEN.
func (s *Service) reviewer(ctx context.Context, actor *accounts.Principal, b *Bounty) error {
	if slices.Contains(b.Reviewers, actor.Account.ID) {
		return nil
	}
	if err := s.accounts.Authorize(ctx, actor, b.SponsorID, accounts.Spend); err == nil {
		return nil
	}
	return stipend.Errorf(stipend.EFORBIDDEN, "only the sponsor and the reviewers of bounty %s may review its submissions", b.ID)
}

// Submissions lists a bounty's submissions, for its sponsor and reviewers, and for each
// submitter, their own. Returns ENOTFOUND.
func (s *Service) Submissions(ctx context.Context, actor *accounts.Principal, id string) ([]Submission, error) {
	b, err := s.store.Bounty(ctx, id)
	if err != nil {
		return nil, err
	}
	all, err := s.store.Submissions(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.reviewer(ctx, actor, b) == nil {
		return all, nil
	}
	own := []Submission{}
	for _, sub := range all {
		if sub.AccountID == actor.Account.ID {
			own = append(own, sub)
		}
	}
	return own, nil
}

// Decide approves a submission, which pays its submitter one unit, or rejects it with a
// reason. Returns ENOTFOUND, EFORBIDDEN (not a reviewer), EINVALID and ECONFLICT.
func (s *Service) Decide(ctx context.Context, actor *accounts.Principal, id, submissionID string, approve bool, reason string) (*Submission, error) {
	b, err := s.store.Bounty(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.reviewer(ctx, actor, b); err != nil {
		return nil, err
	}
	if err := stipend.CheckText("reason", reason, 500, approve); err != nil {
		return nil, err
	}
	sub, err := s.store.Submission(ctx, id, submissionID)
	if err != nil {
		return nil, err
	}
	if sub.AccountID == actor.Account.ID {
		return nil, stipend.Errorf(stipend.EFORBIDDEN, "nobody reviews their own submission")
	}
	return s.store.Decide(ctx, id, submissionID, approve, reason, actor.Account.ID)
}

// Statement returns a bounty's public account. Returns ENOTFOUND and EINVALID.
func (s *Service) Statement(ctx context.Context, id, cursor string, limit int) (*Statement, error) {
	return s.store.Statement(ctx, id, cursor, limit)
}

// LinkGitHubByOperator links a GitHub login to an account on an operator's word (after
// checking it outside Stipend), and moves the login's pending rewards into the account.
// Returns EFORBIDDEN (not an admin), EINVALID, ENOTFOUND and ECONFLICT.
func (s *Service) LinkGitHubByOperator(ctx context.Context, actor *accounts.Principal, accountID, login string) ([]ledger.Amount, error) {
	if err := accounts.Require(actor, accounts.ScopeAdmin); err != nil {
		return nil, err
	}
	return s.linkGitHub(ctx, accountID, login, "operator")
}

func (s *Service) linkGitHub(ctx context.Context, accountID, login, via string) ([]ledger.Amount, error) {
	if !ValidLogin(login) {
		return nil, stipend.Errorf(stipend.EINVALID, "login: not a GitHub login")
	}
	a, err := s.accounts.Resolve(ctx, accountID)
	if err != nil {
		return nil, err
	}
	moved, err := s.store.LinkGitHub(ctx, login, a.ID, via)
	if err != nil {
		return nil, err
	}
	s.opts.Logger.Info("GitHub login linked", "account_id", a.ID, "login", strings.ToLower(login), "via", via, "transfers", len(moved))
	return moved, nil
}
