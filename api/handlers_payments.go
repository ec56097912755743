package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/payments/funding"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/payout"
)

func toFunding(f *funding.Funding) wire.Funding {
	return wire.Funding{ID: f.ID, AccountID: f.AccountID, Status: f.Status, Amount: f.Amount.Value, Asset: string(f.Amount.Asset),
		Unit: f.Amount.Asset.MinorUnit(), AmountPaid: f.AmountPaid, Invoice: f.Invoice, PaymentHash: f.PaymentHash, Memo: f.Memo,
		Transaction: f.LedgerTx, CreatedAt: f.CreatedAt, ExpiresAt: f.ExpiresAt, SettledAt: f.SettledAt}
}

func toPayout(p *payout.Payout) wire.Payout {
	return wire.Payout{ID: p.ID, AccountID: p.AccountID, Status: p.Status, Rail: p.Rail, Amount: p.Amount.Value,
		Asset: string(p.Amount.Asset), Unit: p.Amount.Asset.MinorUnit(), FeeCap: p.FeeCap, FeePaid: p.FeePaid,
		Destination: p.Destination, Invoice: p.Invoice, PaymentHash: p.PaymentHash, Proof: p.Proof, Failure: p.Failure,
		Source: p.Source, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, SentAt: p.SentAt, FinishedAt: p.FinishedAt}
}

func toPreference(p *payout.Preference) wire.PayoutPreference {
	return wire.PayoutPreference{Asset: string(p.Asset), Unit: p.Asset.MinorUnit(), Rail: p.Rail, Destination: p.Destination,
		Minimum: p.Minimum, UpdatedAt: p.UpdatedAt}
}

func (s *Server) createFunding(c echo.Context) error {
	var req wire.CreateFundingRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	amount, err := money(req.Amount, req.Asset)
	if err != nil {
		return err
	}
	f, err := s.fundings.Create(c.Request().Context(), principal(c), req.AccountID, amount, req.Memo)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toFunding(f))
}

func (s *Server) getFunding(c echo.Context) error {
	f, err := s.fundings.Get(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toFunding(f))
}

func (s *Server) createPayout(c echo.Context) error {
	var req wire.CreatePayoutRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	amount := ledger.Amount{Value: req.Amount, Asset: ledger.BTC}
	if req.Asset != "" {
		a, err := ledger.ParseAsset(req.Asset)
		if err != nil {
			return err
		}
		amount.Asset = a
	}
	if req.Amount < 0 {
		return stipend.Errorf(stipend.EINVALID, "amount: must be greater than zero, or left out to take the invoice's")
	}
	p, err := s.payouts.Request(c.Request().Context(), principal(c), payout.Request{
		AccountID: req.AccountID, Destination: req.Destination, Amount: amount, MaxFee: req.MaxFee,
	}, idempotencyKey(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toPayout(p))
}

func (s *Server) listPayouts(c echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	id := accountParam(c)
	ps, next, err := s.payouts.List(c.Request().Context(), principal(c), id, c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	out := wire.PayoutPage{AccountID: id, Data: make([]wire.Payout, 0, len(ps)), NextCursor: next}
	for i := range ps {
		out.Data = append(out.Data, toPayout(&ps[i]))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getPayout(c echo.Context) error {
	p, err := s.payouts.Get(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toPayout(p))
}

func (s *Server) cancelPayout(c echo.Context) error {
	p, err := s.payouts.Cancel(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toPayout(p))
}

func (s *Server) listPayoutPreferences(c echo.Context) error {
	id := accountParam(c)
	ps, err := s.payouts.Preferences(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	out := wire.PayoutPreferences{AccountID: id, Data: make([]wire.PayoutPreference, 0, len(ps))}
	for i := range ps {
		out.Data = append(out.Data, toPreference(&ps[i]))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) setPayoutPreference(c echo.Context) error {
	var req wire.SetPayoutPreferenceRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	asset, err := ledger.ParseAsset(c.Param("asset"))
	if err != nil {
		return err
	}
	p, err := s.payouts.SetPreference(c.Request().Context(), principal(c), payout.Preference{
		AccountID: req.AccountID, Asset: asset, Rail: req.Rail, Destination: req.Destination, Minimum: req.Minimum,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toPreference(p))
}
