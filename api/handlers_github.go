package api

import (
	"html/template"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/payments/ledger"
)

func (s *Server) linkGitHub(c echo.Context) error {
	var req wire.GitHubLinkRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	moved, err := s.bounties.LinkGitHubByOperator(c.Request().Context(), principal(c), req.AccountID, req.Login)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toGitHubLink(req.AccountID, req.Login, moved))
}

func (s *Server) startGitHubLink(c echo.Context) error {
	start, err := s.bounties.StartGitHubLink(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, wire.GitHubLinkStart{AuthorizeURL: start.AuthorizeURL, ExpiresAt: start.ExpiresAt})
}

func (s *Server) confirmGitHubLink(c echo.Context) error {
	var req wire.GitHubLinkConfirmRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	p := principal(c)
	login, moved, err := s.bounties.ConfirmGitHubLink(c.Request().Context(), p, req.Code)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toGitHubLink(p.Account.ID, login, moved))
}

func toGitHubLink(accountID, login string, moved []ledger.Amount) wire.GitHubLink {
	out := wire.GitHubLink{AccountID: accountID, Login: login, Moved: make([]wire.Money, 0, len(moved))}
	for _, m := range moved {
		out.Moved = append(out.Moved, toMoney(m.Value, m.Asset))
	}
	return out
}

// callbackPage is what a browser shows when GitHub sends it back: the confirmation code and
// the command that uses it, or what went wrong.
var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Stipend: link your GitHub login</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
{{if .Problem}}<h1>The link did not work</h1>
<p>{{.Problem}}</p>
{{else}}<h1>GitHub says you are {{.Login}}</h1>
<p>To link <b>{{.Login}}</b> to your Stipend account, and receive the rewards waiting for it,
run this with your own API key within 15 minutes:</p>
<pre style="white-space: pre-wrap; word-break: break-all; background: #f4f4f4; padding: 1rem">stipend github confirm {{.Code}}</pre>
<p>Do not give this code to anyone else: whoever confirms it receives the rewards.</p>
{{end}}</body></html>
`))

// gitHubCallback is where GitHub sends the browser back. Being a page for a person rather
// than an API response, it answers in HTML, errors included.
func (s *Server) gitHubCallback(c echo.Context) error {
	var data struct{ Login, Code, Problem string }
	status := http.StatusOK
	q := c.QueryParams()
	if e := q.Get("error"); e != "" {
		data.Problem = "GitHub did not authorise Stipend (" + e + "). Start the link again if you meant to."
		status = http.StatusBadRequest
	} else if proof, err := s.bounties.FinishGitHubLink(c.Request().Context(), q.Get("state"), q.Get("code")); err != nil {
		code := stipend.ErrorCode(err)
		status = statusOf[code]
		if status == 0 {
			status = http.StatusInternalServerError
		}
		if status >= 500 {
			s.log.Warn("GitHub callback failed", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "error", err)
		}
		data.Problem = stipend.ErrorMessage(err)
	} else {
		data.Login, data.Code = proof.Login, proof.Code
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	h.Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return callbackPage.Execute(c.Response(), data)
}
