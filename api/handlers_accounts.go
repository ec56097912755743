package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/api/wire"
)

func toAccount(a *accounts.Account) wire.Account {
	return wire.Account{ID: a.ID, Kind: a.Kind, Handle: a.Handle, Name: a.Name, Email: a.Email, Owners: a.Owners, CreatedAt: a.CreatedAt}
}

func toKey(k *accounts.Key) wire.Key {
	return wire.Key{ID: k.ID, AccountID: k.AccountID, Name: k.Name, Hint: k.Hint, Scopes: k.Scopes,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt}
}

func (s *Server) me(c echo.Context) error {
	p := principal(c)
	return c.JSON(http.StatusOK, wire.Me{Account: toAccount(&p.Account), Key: toKey(&p.Key)})
}

func (s *Server) createAccount(c echo.Context) error {
	var req wire.CreateAccountRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	a, err := s.accounts.CreateAccount(c.Request().Context(), principal(c), accounts.NewAccount{
		Kind: req.Kind, Handle: req.Handle, Name: req.Name, Email: req.Email, Owners: req.Owners,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toAccount(a))
}

func (s *Server) getAccount(c echo.Context) error {
	a, err := s.accounts.Account(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAccount(a))
}

func (s *Server) setMember(c echo.Context) error {
	var req wire.SetMemberRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	a, err := s.accounts.SetMember(c.Request().Context(), principal(c), c.Param("id"), req.Account, req.Role)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAccount(a))
}

func (s *Server) removeMember(c echo.Context) error {
	a, err := s.accounts.RemoveMember(c.Request().Context(), principal(c), c.Param("id"), c.Param("member"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAccount(a))
}

func (s *Server) createKey(c echo.Context) error {
	var req wire.CreateKeyRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	k, secret, err := s.accounts.CreateKey(c.Request().Context(), principal(c), accounts.NewKey{
		AccountID: req.AccountID, Name: req.Name, Scopes: req.Scopes, ExpiresAt: req.ExpiresAt,
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, wire.CreatedKey{Key: toKey(k), Secret: secret})
}

func (s *Server) listKeys(c echo.Context) error {
	keys, err := s.accounts.Keys(c.Request().Context(), principal(c), c.QueryParam("account_id"))
	if err != nil {
		return err
	}
	out := wire.KeyList{Data: make([]wire.Key, 0, len(keys))}
	for i := range keys {
		out.Data = append(out.Data, toKey(&keys[i]))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) revokeKey(c echo.Context) error {
	k, err := s.accounts.RevokeKey(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toKey(k))
}
