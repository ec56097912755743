package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/payments/ledger"
)

func toTransaction(t *ledger.Transaction) wire.Transaction {
	out := wire.Transaction{ID: t.ID, Kind: t.Kind, Memo: t.Memo, Metadata: t.Metadata, CreatedBy: t.CreatedBy,
		Reverses: t.Reverses, CreatedAt: t.CreatedAt, Entries: make([]wire.Entry, 0, len(t.Entries))}
	for _, e := range t.Entries {
		out.Entries = append(out.Entries, wire.Entry{Address: e.Address, Amount: e.Amount, Asset: string(e.Asset), Unit: e.Asset.MinorUnit()})
	}
	return out
}

// accountParam is the account a read names with ?account_id=, or the caller's.
func accountParam(c echo.Context) string {
	if id := c.QueryParam("account_id"); id != "" {
		return id
	}
	return principal(c).Account.ID
}

func (s *Server) balances(c echo.Context) error {
	id := accountParam(c)
	bs, err := s.payments.Balances(c.Request().Context(), principal(c), id)
	if err != nil {
		return err
	}
	out := wire.Balances{AccountID: id, Data: make([]wire.Balance, 0, len(bs))}
	for _, b := range bs {
		out.Data = append(out.Data, wire.Balance{Asset: string(b.Asset), Unit: b.Asset.MinorUnit(),
			Available: b.Available, Held: b.Held, Total: b.Available + b.Held})
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) transactions(c echo.Context) error {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return err
	}
	id := accountParam(c)
	txs, next, err := s.payments.Transactions(c.Request().Context(), principal(c), id, c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	out := wire.TransactionPage{AccountID: id, Data: make([]wire.Transaction, 0, len(txs)), NextCursor: next}
	for i := range txs {
		out.Data = append(out.Data, toTransaction(&txs[i]))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) transfer(c echo.Context) error {
	var req wire.TransferRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	amount, err := money(req.Amount, req.Asset)
	if err != nil {
		return err
	}
	t, err := s.payments.Transfer(c.Request().Context(), principal(c), req.From, req.To, amount, req.Memo, idempotencyKey(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toTransaction(t))
}

func (s *Server) adminCredit(c echo.Context) error {
	var req wire.AdminCreditRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	amount, err := money(req.Amount, req.Asset)
	if err != nil {
		return err
	}
	t, err := s.payments.AdminCredit(c.Request().Context(), principal(c), req.AccountID, amount, req.Memo, idempotencyKey(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toTransaction(t))
}
