package api

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
)

// problemBase prefixes the type URI of every problem.
const problemBase = "https://stipend.dev/problems/"

// statusOf is the one table that maps domain error codes to HTTP statuses.
var statusOf = map[string]int{
	stipend.EINVALID:             http.StatusBadRequest,
	stipend.EUNAUTHORIZED:        http.StatusUnauthorized,
	stipend.EPAYMENTREQUIRED:     http.StatusPaymentRequired,
	stipend.EFORBIDDEN:           http.StatusForbidden,
	stipend.ENOTFOUND:            http.StatusNotFound,
	stipend.EMETHODNOTALLOWED:    http.StatusMethodNotAllowed,
	stipend.ECONFLICT:            http.StatusConflict,
	stipend.EIDEMPOTENCYMISMATCH: http.StatusConflict,
	stipend.ETOOLARGE:            http.StatusRequestEntityTooLarge,
	stipend.EINSUFFICIENTFUNDS:   http.StatusUnprocessableEntity,
	stipend.ERATELIMITED:         http.StatusTooManyRequests,
	stipend.EINTERNAL:            http.StatusInternalServerError,
	stipend.EUNAVAILABLE:         http.StatusServiceUnavailable,
}

// titleOf gives each code the short, fixed title of its problem type.
var titleOf = map[string]string{
	stipend.EINVALID:             "Invalid request",
	stipend.EUNAUTHORIZED:        "Unauthorized",
	stipend.EPAYMENTREQUIRED:     "Payment Required",
	stipend.EFORBIDDEN:           "Forbidden",
	stipend.ENOTFOUND:            "Not found",
	stipend.EMETHODNOTALLOWED:    "Method not allowed",
	stipend.ECONFLICT:            "Conflict",
	stipend.EIDEMPOTENCYMISMATCH: "Idempotency key reused",
	stipend.ETOOLARGE:            "Request too large",
	stipend.EINSUFFICIENTFUNDS:   "Insufficient funds",
	stipend.ERATELIMITED:         "Too many requests",
	stipend.EINTERNAL:            "Internal error",
	stipend.EUNAVAILABLE:         "Service unavailable",
}

// fromHTTPError turns echo's own errors (no route, body too large) into domain errors.
func fromHTTPError(he *echo.HTTPError, r *http.Request) *stipend.Error {
	switch he.Code {
	case http.StatusNotFound:
		return stipend.Errorf(stipend.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path)
	case http.StatusMethodNotAllowed:
		return stipend.Errorf(stipend.EMETHODNOTALLOWED, "%s is not allowed on %s", r.Method, r.URL.Path)
	case http.StatusRequestEntityTooLarge:
		return stipend.Errorf(stipend.ETOOLARGE, "the request body is larger than this server accepts")
	case http.StatusUnauthorized:
		return stipend.Errorf(stipend.EUNAUTHORIZED, "authentication required")
	case http.StatusTooManyRequests:
		return stipend.Errorf(stipend.ERATELIMITED, "too many requests")
	case http.StatusServiceUnavailable:
		return stipend.Errorf(stipend.EUNAVAILABLE, "the service is unavailable")
	}
	if he.Code >= 400 && he.Code < 500 {
		return stipend.Errorf(stipend.EINVALID, "the request was not understood")
	}
	return stipend.Internal(he, "echo error")
}

// handleError writes err as RFC 9457 problem JSON. Internal errors are logged with the
// request id and reach the client only as a generic message.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		err = fromHTTPError(he, c.Request())
	}
	code := stipend.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		code, status = stipend.EINTERNAL, http.StatusInternalServerError
	}
	reqID := c.Response().Header().Get(echo.HeaderXRequestID)
	switch code {
	case stipend.EINTERNAL:
		s.log.LogAttrs(c.Request().Context(), slog.LevelError, "request failed",
			slog.String("request_id", reqID), slog.String("route", c.Path()), slog.String("error", err.Error()))
	case stipend.EUNAVAILABLE:
		// What was unavailable (the database, lnd, GitHub) is for the operator to see.
		s.log.LogAttrs(c.Request().Context(), slog.LevelWarn, "request failed: a dependency is unavailable",
			slog.String("request_id", reqID), slog.String("route", c.Path()), slog.String("error", err.Error()))
	}
	p := wire.Problem{
		Type:      problemBase + code,
		Title:     titleOf[code],
		Status:    status,
		Detail:    stipend.ErrorMessage(err),
		Instance:  c.Request().URL.Path,
		Code:      code,
		RequestID: reqID,
	}
	h := c.Response().Header()
	if status == http.StatusUnauthorized {
		h.Set(echo.HeaderWWWAuthenticate, `Bearer realm="stipend"`)
	}
	h.Set(echo.HeaderContentType, "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, p)
	}
	if err != nil {
		s.log.Error("writing an error response", "request_id", reqID, "error", err)
	}
}
