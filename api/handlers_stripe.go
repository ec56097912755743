package api

import (
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/payments/stripe"
)

func toCardFunding(f *stripe.Funding) wire.CardFunding {
	return wire.CardFunding{ID: f.ID, AccountID: f.AccountID, Status: f.Status, Amount: toMoney(f.Amount.Value, f.Amount.Asset),
		AmountPaid: f.AmountPaid, Refunded: f.Refunded, PaymentIntent: f.PaymentIntent, ClientSecret: f.ClientSecret, CheckoutURL: f.CheckoutURL, Transaction: f.LedgerTx,
		CreatedAt: f.CreatedAt, SettledAt: f.SettledAt}
}

func toCardRefund(r *stripe.CardRefund) wire.CardRefund {
	return wire.CardRefund{ID: r.ID, FundingID: r.FundingID, AccountID: r.AccountID, Amount: toMoney(r.Amount.Value, r.Amount.Asset),
		State: r.State, StripeRefund: r.StripeRefund, Transaction: r.LedgerTx, Reversal: r.ReversalTx, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func (s *Server) refundCardFunding(c echo.Context) error {
	var req wire.CreateCardRefundRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	r, err := s.stripe.RefundFunding(c.Request().Context(), principal(c), c.Param("id"), req.Amount, idempotencyKey(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toCardRefund(r))
}

func (s *Server) getCardRefund(c echo.Context) error {
	r, err := s.stripe.CardRefund(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toCardRefund(r))
}

func toConnect(c *stripe.Connected, link string) wire.Connect {
	return wire.Connect{AccountID: c.AccountID, StripeAccount: c.StripeAccount, PayoutsEnabled: c.PayoutsEnabled,
		DetailsSubmitted: c.DetailsSubmitted, OnboardingURL: link, CreatedAt: c.CreatedAt}
}

func (s *Server) createCardFunding(c echo.Context) error {
	var req wire.CreateCardFundingRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	amount, err := money(req.Amount, req.Asset)
	if err != nil {
		return err
	}
	var checkout *stripe.Checkout
	if req.Checkout {
		checkout = &stripe.Checkout{SuccessURL: req.SuccessURL, CancelURL: req.CancelURL}
	}
	f, err := s.stripe.FundByCard(c.Request().Context(), principal(c), req.AccountID, amount, checkout, idempotencyKey(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toCardFunding(f))
}

func (s *Server) getCardFunding(c echo.Context) error {
	f, err := s.stripe.CardFunding(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toCardFunding(f))
}

func (s *Server) connectStripe(c echo.Context) error {
	var req wire.ConnectRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	acct, link, err := s.stripe.Onboard(c.Request().Context(), principal(c), req.AccountID, req.Country, req.Email)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toConnect(acct, link))
}

func (s *Server) getStripeConnect(c echo.Context) error {
	acct, err := s.stripe.Connected(c.Request().Context(), principal(c), c.QueryParam("account_id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toConnect(acct, ""))
}

// maxWebhookBody bounds a webhook delivery; Stripe's events are a few kilobytes.
const maxWebhookBody = 256 << 10

// stripeWebhook receives Stripe's events. The signature is checked over the raw body before
// anything is parsed; a bad or stale one is 400 and changes nothing. Each event id is applied
// once, so Stripe's retries, duplicates and reorderings are harmless. A failure to record an
// event is 5xx, which makes Stripe deliver it again.
func (s *Server) stripeWebhook(c echo.Context) error {
	if s.stripeVerifier == nil || s.stripe == nil {
		return stipend.Errorf(stipend.EUNAVAILABLE, "Stripe webhooks are not configured on this server")
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxWebhookBody+1))
	if err != nil {
		return stipend.Errorf(stipend.EINVALID, "the webhook body could not be read")
	}
	if len(body) > maxWebhookBody {
		return stipend.Errorf(stipend.ETOOLARGE, "the webhook body is larger than %d bytes", maxWebhookBody)
	}
	e, err := s.stripeVerifier.Verify(body, c.Request().Header.Get("Stripe-Signature"), s.now())
	if err != nil {
		return err
	}
	applied, err := s.stripe.HandleEvent(c.Request().Context(), e)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, wire.WebhookReceived{Received: true, Applied: applied})
}

// stripeConnectDone is where Stripe's onboarding sends a payee back (and where an expired
// link is refreshed from): a page that says what happens next. Payouts are enabled by
// Stripe's account.updated event, not by this visit, which anyone can make.
func (s *Server) stripeConnectDone(c echo.Context) error {
	c.Response().Header().Set("Content-Security-Policy", "default-src 'none'")
	return c.HTML(http.StatusOK, `<!doctype html><meta charset="utf-8"><title>Stipend</title>`+
		`<p>Thank you. Stripe is checking your details; payouts in USD and EUR start as soon as it enables them. `+
		`<code>GET /v1/stripe/connect</code> shows where it stands. `+
		`If the link had expired, ask for a new one with <code>POST /v1/stripe/connect</code>.</p>`)
}
