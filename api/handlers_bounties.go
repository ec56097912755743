package api

import (
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/bounties"
	"github.com/stipend/stipend/payments/ledger"
)

func toMoney(v int64, a ledger.Asset) wire.Money {
	return wire.Money{Amount: v, Asset: string(a), Unit: a.MinorUnit()}
}

func toBounty(b *bounties.Bounty) wire.Bounty {
	rewards, fees, _ := bounties.Cost(b.Reward.Value, b.FeePerUnit, b.Units)
	return wire.Bounty{ID: b.ID, SponsorID: b.SponsorID, Kind: b.Kind, Title: b.Title, Description: b.Description, Link: b.Link,
		Reward: toMoney(b.Reward.Value, b.Reward.Asset), FeePerUnit: toMoney(b.FeePerUnit, b.Reward.Asset), FeeBPS: b.FeeBPS,
		Units: b.Units, UnitsPaid: b.UnitsPaid, Approval: b.Approval, Reviewers: b.Reviewers,
		ClaimWindow: int64(b.ClaimWindow / time.Second), Status: b.Status, Deadline: b.Deadline, CreatedAt: b.CreatedAt,
		ClosedAt: b.ClosedAt, Cost: toMoney(rewards+fees, b.Reward.Asset)}
}

func toClaim(c *bounties.Claim) wire.Claim {
	return wire.Claim{ID: c.ID, BountyID: c.BountyID, AccountID: c.AccountID, Status: c.Status, ExpiresAt: c.ExpiresAt, CreatedAt: c.CreatedAt}
}

func toSubmission(s *bounties.Submission) wire.Submission {
	return wire.Submission{ID: s.ID, BountyID: s.BountyID, AccountID: s.AccountID, ClaimID: s.ClaimID, Evidence: s.Evidence,
		Status: s.Status, Reason: s.Reason, DecidedBy: s.DecidedBy, Transaction: s.LedgerTx, CreatedAt: s.CreatedAt, DecidedAt: s.DecidedAt}
}

func (s *Server) listBounties(c echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	bs, next, err := s.bounties.List(c.Request().Context(), bounties.Filter{Status: c.QueryParam("status"), Kind: c.QueryParam("kind"),
		SponsorID: c.QueryParam("sponsor_id"), Query: c.QueryParam("q"), Cursor: c.QueryParam("cursor"), Limit: limit})
	if err != nil {
		return err
	}
	out := wire.BountyPage{Data: make([]wire.Bounty, 0, len(bs)), NextCursor: next}
	for i := range bs {
		out.Data = append(out.Data, toBounty(&bs[i]))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) createBounty(c echo.Context) error {
	var req wire.CreateBountyRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	reward, err := money(req.Reward.Amount, req.Reward.Asset)
	if err != nil {
		return stipend.Errorf(stipend.EINVALID, "reward: %s", stipend.ErrorMessage(err))
	}
	if req.ClaimWindow < 0 || req.ClaimWindow > int64(30*24*time.Hour/time.Second) {
		return stipend.Errorf(stipend.EINVALID, "claim_window: between 0 and 30 days, in seconds")
	}
	b, err := s.bounties.Create(c.Request().Context(), principal(c), req.SponsorID, bounties.NewBounty{
		Kind: req.Kind, Title: req.Title, Description: req.Description, Link: req.Link, Reward: reward, Units: req.Units,
		Approval: req.Approval, Reviewers: req.Reviewers, ClaimWindow: time.Duration(req.ClaimWindow) * time.Second, Deadline: req.Deadline,
	}, idempotencyKey(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toBounty(b))
}

func (s *Server) getBounty(c echo.Context) error {
	b, err := s.bounties.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toBounty(b))
}

func (s *Server) topUpBounty(c echo.Context) error {
	var req wire.TopUpRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	b, err := s.bounties.TopUp(c.Request().Context(), principal(c), c.Param("id"), req.Units, idempotencyKey(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toBounty(b))
}

func (s *Server) cancelBounty(c echo.Context) error {
	b, err := s.bounties.Cancel(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toBounty(b))
}

// resultsFormat picks the format of an upload: ?format=, else the Content-Type.
func resultsFormat(c echo.Context) (string, error) {
	if f := c.QueryParam("format"); f != "" {
		return f, nil
	}
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	switch mt {
	case "application/json":
		return bounties.FormatJSON, nil
	case "application/xml", "text/xml":
		return bounties.FormatJUnit, nil
	case "application/x-ndjson", "application/jsonl", "application/vnd.go-test-json":
		return bounties.FormatGoTestJSON, nil
	}
	return "", stipend.Errorf(stipend.EINVALID, "send results as application/json, JUnit as application/xml, or go test -json as application/x-ndjson (or name the format with ?format=)")
}

func (s *Server) reportResults(c echo.Context) error {
	format, err := resultsFormat(c)
	if err != nil {
		return err
	}
	// Whoever may not report for this bounty is refused before the upload is read.
	if err := s.bounties.CheckReporter(c.Request().Context(), principal(c), c.Param("id")); err != nil {
		return err
	}
	data, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return jsonError(err)
	}
	rs, err := bounties.Parse(format, data, bounties.Defaults{RunID: c.QueryParam("run_id"), Contributor: c.QueryParam("contributor")})
	if err != nil {
		return err
	}
	verdicts, err := s.bounties.Report(c.Request().Context(), principal(c), c.Param("id"), rs)
	if err != nil {
		return err
	}
	b, err := s.bounties.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	out := wire.ResultsReport{BountyID: b.ID, UnitsLeft: b.UnitsLeft(), Results: make([]wire.ResultVerdict, 0, len(verdicts))}
	var paid int64
	for _, v := range verdicts {
		switch v.Status {
		case bounties.StatusPaid:
			out.Paid++
		case bounties.StatusDuplicate:
			out.Duplicate++
		case bounties.StatusFailing:
			out.Failing++
		case bounties.StatusOverBudget:
			out.OverBudget++
		case bounties.StatusRejected:
			out.Rejected++
		}
		paid += v.Paid
		out.Results = append(out.Results, wire.ResultVerdict{RunID: v.RunID, Test: v.Test, Outcome: v.Outcome,
			Contributor: v.Contributor, Status: v.Status, Reason: v.Reason, Paid: v.Paid, PaidTo: v.To})
	}
	out.AmountPaid = toMoney(paid, b.Reward.Asset)
	return c.JSON(http.StatusOK, out)
}

func (s *Server) claimBounty(c echo.Context) error {
	cl, err := s.bounties.Claim(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toClaim(cl))
}

func (s *Server) releaseClaim(c echo.Context) error {
	cl, err := s.bounties.ReleaseClaim(c.Request().Context(), principal(c), c.Param("id"), c.Param("claim"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toClaim(cl))
}

func (s *Server) submitWork(c echo.Context) error {
	var req wire.CreateSubmissionRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	sub, err := s.bounties.Submit(c.Request().Context(), principal(c), c.Param("id"), req.Evidence, req.ClaimID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toSubmission(sub))
}

func (s *Server) listSubmissions(c echo.Context) error {
	subs, err := s.bounties.Submissions(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	out := wire.SubmissionList{Data: make([]wire.Submission, 0, len(subs))}
	for i := range subs {
		out.Data = append(out.Data, toSubmission(&subs[i]))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) approveSubmission(c echo.Context) error {
	sub, err := s.bounties.Decide(c.Request().Context(), principal(c), c.Param("id"), c.Param("submission"), true, "")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toSubmission(sub))
}

func (s *Server) rejectSubmission(c echo.Context) error {
	var req wire.RejectRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	sub, err := s.bounties.Decide(c.Request().Context(), principal(c), c.Param("id"), c.Param("submission"), false, req.Reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toSubmission(sub))
}

func (s *Server) bountyStatement(c echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	st, err := s.bounties.Statement(c.Request().Context(), c.Param("id"), c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	a := st.Bounty.Reward.Asset
	out := wire.BountyStatement{Bounty: toBounty(&st.Bounty), FundedRewards: toMoney(st.FundedRewards, a), FundedFees: toMoney(st.FundedFees, a),
		PaidRewards: toMoney(st.PaidRewards, a), FeesEarned: toMoney(st.FeesEarned, a), Refunded: toMoney(st.Refunded, a),
		UnclaimedReturn: toMoney(st.UnclaimedReturn, a), Escrow: toMoney(st.Escrow, a), Pending: toMoney(st.Pending, a),
		Transactions: make([]wire.Transaction, 0, len(st.Transactions)), NextCursor: st.NextCursor}
	for i := range st.Transactions {
		out.Transactions = append(out.Transactions, toTransaction(&st.Transactions[i]))
	}
	return c.JSON(http.StatusOK, out)
}
