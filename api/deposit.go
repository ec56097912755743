package api

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/l402"
	"github.com/stipend/stipend/payments/paywall"
)

// depositPricer prices a route that acts for an account, as a deposit into that account.
type depositPricer func(c echo.Context, accountID string) (paywall.Offer, error)

// payable is the middleware of a route that acts for an account and spends its balance
// (asking an expert), made payable per call over Lightning (DESIGN.md section 6).
//
// With an API key (credits), the handler spends the balance; when the balance does not cover
// the price, the answer is a 402 whose invoice and L402 token are bound to the caller's
// account. The caller pays and retries with "Authorization: L402 <macaroon>:<preimage>" and
// the same Idempotency-Key: the token is verified (it must name the account it was minted
// for), the payment is credited to the account's balance with the claim of the payment hash,
// in one transaction, and the handler then runs as the account. A handler that fails after the
// deposit leaves the money on the balance: the refund is a balance credit.
//
// Tokens are only minted for an authenticated caller's own account, and a refused token gets
// no new challenge, so nobody can buy a token that acts for someone else's account.
func (s *Server) payable(scope string, price depositPricer) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		inner := func(c echo.Context) error {
			if g, ok := c.Get(grantKey).(*paywall.Grant); ok {
				// Recording the deposit must not be cut short by a client that hangs up.
				ctx := context.WithoutCancel(c.Request().Context())
				if err := s.paywall.Reserve(ctx, g); err != nil {
					return depositRefused(err)
				}
				receipt, err := s.paywall.Serve(ctx, g)
				if err != nil {
					if rerr := s.paywall.Refund(ctx, g); rerr != nil {
						s.log.Error("releasing a deposit that could not be recorded", "error", rerr)
					}
					return err
				}
				c.Response().Header().Set(l402.HeaderReceipt, l402.EncodeReceipt(*receipt))
			}
			err := next(c)
			// Without a Lightning node there is nothing to offer but the balance the caller
			// already tried: the refusal stands. Nor is a caller who came with a token offered a
			// new one: tokens for an account go only to a caller who showed its API key.
			if stipend.ErrorCode(err) != stipend.EINSUFFICIENTFUNDS || s.paywall == nil || !s.paywall.Lightning() ||
				c.Get(grantKey) != nil {
				return err
			}
			offer, perr := price(c, principal(c).Account.ID)
			if perr != nil {
				return err
			}
			return s.paymentRequired(c, offer, stipend.ErrorMessage(err)+
				": pay the invoice, then send the request again with the L402 credential and the same Idempotency-Key")
		}
		withKey := s.idempotent(inner)
		byKey := s.authenticate(scope)(withKey)
		return func(c echo.Context) error {
			h := c.Request().Header
			if s.paywall == nil || !l402.HasL402Scheme(h.Get(echo.HeaderAuthorization)) {
				return byKey(c)
			}
			cred, err := l402.FromHeader(h)
			if err != nil {
				return err
			}
			account := l402.CaveatValue(cred.Macaroon, l402.CondAccount)
			if account == "" {
				return stipend.Errorf(stipend.EUNAUTHORIZED, "this route takes an API key, or an L402 token it issued to your account")
			}
			offer, err := price(c, account)
			if err != nil {
				return err
			}
			g, err := s.paywall.Verify(c.Request().Context(), offer, paywall.Credential{L402: cred})
			if err != nil {
				return depositRefused(err)
			}
			p, err := s.accounts.ByPayment(c.Request().Context(), account, scope)
			if err != nil {
				return depositRefused(stipend.Errorf(stipend.EUNAUTHORIZED, "invalid credential"))
			}
			c.Set(principalKey, p)
			c.Set(grantKey, g)
			return withKey(c)
		}
	}
}

// depositRefused answers a token that cannot be deposited. It is 401, not a new 402: a new
// challenge goes only to a caller who proves the account with an API key.
func depositRefused(err error) error {
	switch stipend.ErrorCode(err) {
	case stipend.EUNAUTHORIZED, stipend.ENOTFOUND:
		return stipend.Errorf(stipend.EUNAUTHORIZED, "the L402 credential is not valid for this request")
	case stipend.EPAYMENTREQUIRED:
		return stipend.Errorf(stipend.EUNAUTHORIZED, "the L402 credential was already used: ask again with your API key for a new invoice")
	}
	return err
}

// askOffer prices asking an expert, as a deposit of the expert's price into the asker's
// account, from which the question's escrow then holds it.
func (s *Server) askOffer(c echo.Context, accountID string) (paywall.Offer, error) {
	p, err := s.experts.Profile(c.Request().Context(), c.Param("handle"))
	if err != nil {
		return paywall.Offer{}, err
	}
	// The route names the expert, so that a token bought to ask one cannot ask another.
	return paywall.Offer{Route: "/v1/experts/" + p.Handle + "/questions", Price: p.Price, AccountID: accountID,
		Description: "question for " + p.Handle}, nil
}
