package api

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/accounts"
)

const principalKey = "stipend.principal"

// authenticate requires an API key sent as "Authorization: Bearer <key>" that carries scope
// (any key, when scope is "").
func (s *Server) authenticate(scope string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			scheme, token, ok := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
			token = strings.TrimSpace(token)
			if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
				return stipend.Errorf(stipend.EUNAUTHORIZED, "send an API key as \"Authorization: Bearer <key>\"")
			}
			p, err := s.accounts.Authenticate(c.Request().Context(), token)
			if err != nil {
				return err
			}
			if scope != "" {
				if err := accounts.Require(p, scope); err != nil {
					return err
				}
			}
			c.Set(principalKey, p)
			return next(c)
		}
	}
}

// principal returns the caller authenticated by the route's middleware.
func principal(c echo.Context) *accounts.Principal {
	p, _ := c.Get(principalKey).(*accounts.Principal)
	return p
}
