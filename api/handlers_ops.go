package api

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
)

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, wire.Health{Status: "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			s.log.Warn("not ready", "error", err)
			return stipend.Errorf(stipend.EUNAVAILABLE, "not ready: the database is unreachable or its schema is not current")
		}
	}
	return c.JSON(http.StatusOK, wire.Health{Status: "ready"})
}

func (s *Server) metricsHandler(c echo.Context) error {
	promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}).ServeHTTP(c.Response(), c.Request())
	return nil
}

func (s *Server) openAPIHandler(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, s.docJSON)
}
