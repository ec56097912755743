package api

import (
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/endpoints"
	"github.com/stipend/stipend/payments/l402"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/paywall"
)

func (s *Server) toEndpoint(c echo.Context, e *endpoints.Endpoint, owner bool) wire.Endpoint {
	fee := ledger.ShareBPS(e.Price.Value, s.feeBPS())
	w := wire.Endpoint{ID: e.ID, OwnerID: e.OwnerID, Name: e.Name, PathPattern: e.PathPattern,
		Price: toMoney(e.Price.Value, e.Price.Asset), Fee: toMoney(fee, e.Price.Asset), Access: wire.AccessSingleUse,
		Status: e.Status, URL: c.Scheme() + "://" + c.Request().Host + e.Route() + "/", CreatedAt: e.CreatedAt}
	if e.TTL > 0 {
		w.Access, w.TTLSeconds = wire.AccessReusable, int64(e.TTL/time.Second)
	}
	if owner {
		w.Upstream = e.Upstream
	}
	return w
}

func (s *Server) feeBPS() int64 {
	if s.paywall == nil {
		return 0
	}
	return s.paywall.FeeBPS()
}

func (s *Server) createEndpoint(c echo.Context) error {
	var req wire.CreateEndpointRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	price, err := money(req.Price.Amount, req.Price.Asset)
	if err != nil {
		return err
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > int64(endpoints.MaxTTL/time.Second) {
		return stipend.Errorf(stipend.EINVALID, "ttl_seconds: from 0 (one call per payment) to %d", int64(endpoints.MaxTTL/time.Second))
	}
	e, err := s.endpoints.Register(c.Request().Context(), principal(c), endpoints.NewEndpoint{Name: req.Name, Upstream: req.Upstream,
		PathPattern: req.PathPattern, Price: price, TTL: time.Duration(req.TTLSeconds) * time.Second})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.toEndpoint(c, e, true))
}

func (s *Server) listEndpoints(c echo.Context) error {
	list, err := s.endpoints.Mine(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	out := wire.EndpointList{Endpoints: make([]wire.Endpoint, 0, len(list))}
	for i := range list {
		out.Endpoints = append(out.Endpoints, s.toEndpoint(c, &list[i], true))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getEndpoint(c echo.Context) error {
	e, err := s.endpoints.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.toEndpoint(c, e, false))
}

func (s *Server) disableEndpoint(c echo.Context) error {
	e, err := s.endpoints.Disable(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.toEndpoint(c, e, true))
}

const endpointKey = "stipend.endpoint"

// endpointOffer prices a call of a provider's endpoint. A path the endpoint does not serve is
// refused here, before any payment is asked for.
func (s *Server) endpointOffer(c echo.Context) (paywall.Offer, error) {
	e, err := s.endpoints.Get(c.Request().Context(), c.Param("endpoint"))
	if err != nil {
		return paywall.Offer{}, err
	}
	p, err := calledPath(c)
	if err != nil {
		return paywall.Offer{}, err
	}
	if !e.Allows(p) {
		return paywall.Offer{}, stipend.Errorf(stipend.ENOTFOUND, "endpoint %s does not serve %s", e.ID, clipPath(p))
	}
	c.Set(endpointKey, e)
	c.Set(calledPathKey, p)
	return e.Offer(), nil
}

const calledPathKey = "stipend.called_path"

// calledPath is the path below /x/{endpoint}, decoded and cleaned, so that neither
// "/v1/../admin" nor an escaped form of it ("/v1/%2e%2e/admin") reaches past the endpoint's
// pattern: the pattern is checked on the very path the upstream is sent, which the proxy
// escapes anew. A trailing slash is kept: it can matter to the upstream.
func calledPath(c echo.Context) (string, error) {
	raw := "/" + c.Param("*")
	if c.Request().URL.RawPath != "" {
		// echo routes on the escaped path when the request's escaping is not the canonical
		// one (%2F, %2e, lowercase hex), and then leaves its parameters escaped.
		decoded, err := url.PathUnescape(raw)
		if err != nil {
			return "", stipend.Errorf(stipend.EINVALID, "the path is not validly percent-encoded")
		}
		raw = decoded
	}
	p := path.Clean(raw)
	if strings.HasSuffix(raw, "/") && p != "/" {
		p += "/"
	}
	return p, nil
}

func clipPath(p string) string {
	if len(p) > 100 {
		return p[:100] + "…"
	}
	return p
}

// hopHeaders are the headers of one connection (RFC 9110, section 7.6.1), never forwarded.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// dropHopHeaders deletes from h the headers of one connection: the fixed ones, and those the
// Connection header names as such (RFC 9110, section 7.6.1), which a proxy must not forward
// either.
func dropHopHeaders(h http.Header) {
	for _, v := range h.Values("Connection") {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
}

// proxyEndpoint forwards a paid call to the endpoint's upstream and relays its answer. The
// caller's credential, cookies and Stipend's own headers are not forwarded. The paywall
// charges the call only when the upstream answers below 400; an upstream that fails or does
// not answer costs the caller nothing.
func (s *Server) proxyEndpoint(c echo.Context) error {
	e := c.Get(endpointKey).(*endpoints.Endpoint)
	target, err := url.Parse(e.Upstream)
	if err != nil {
		return stipend.Internal(err, "parsing the upstream of endpoint %s", e.ID)
	}
	// The upstream's own path keeps its escaping; the called path is escaped canonically.
	called, _ := c.Get(calledPathKey).(string)
	base := target.EscapedPath()
	target.Path = strings.TrimSuffix(target.Path, "/") + called
	target.RawPath = strings.TrimSuffix(base, "/") + (&url.URL{Path: called}).EscapedPath()
	target.RawQuery = c.Request().URL.RawQuery
	req, err := http.NewRequestWithContext(c.Request().Context(), c.Request().Method, target.String(), c.Request().Body)
	if err != nil {
		return stipend.Internal(err, "building the upstream request")
	}
	req.ContentLength = c.Request().ContentLength
	for k, v := range c.Request().Header {
		req.Header[k] = v
	}
	dropHopHeaders(req.Header)
	for _, h := range []string{echo.HeaderAuthorization, "Cookie", HeaderIdempotencyKey, "X-Forwarded-For", "Forwarded", "X-Real-Ip"} {
		req.Header.Del(h)
	}
	req.Header.Set("X-Forwarded-For", c.RealIP())
	req.Header.Set("X-Stipend-Endpoint", e.ID)
	resp, err := s.opts.Upstream.Do(req)
	if err != nil {
		s.log.Warn("an endpoint's upstream did not answer", "endpoint", e.ID, "error", err)
		return stipend.Errorf(stipend.EUNAVAILABLE, "the endpoint's upstream did not answer; you were not charged")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.opts.ProxyResponseLimit+1))
	if err != nil {
		return stipend.Errorf(stipend.EUNAVAILABLE, "the endpoint's upstream broke off its answer; you were not charged")
	}
	if int64(len(body)) > s.opts.ProxyResponseLimit {
		return stipend.Errorf(stipend.EUNAVAILABLE, "the endpoint's answer is larger than %d bytes; you were not charged", s.opts.ProxyResponseLimit)
	}
	h := c.Response().Header()
	dropHopHeaders(resp.Header)
	// The answer is served from Stipend's origin: it may set no cookie, claim none of
	// Stipend's own headers (a receipt, a replay), and is sandboxed so that an upstream's HTML
	// runs no script there.
	for _, k := range []string{"Set-Cookie", "Content-Length", l402.HeaderReceipt, HeaderIdempotencyReplayed, echo.HeaderXRequestID,
		"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers", "Access-Control-Allow-Methods",
		"Access-Control-Expose-Headers", "Content-Security-Policy", "X-Content-Type-Options"} {
		resp.Header.Del(k)
	}
	resp.Header.Set("Content-Security-Policy", "sandbox")
	resp.Header.Set("X-Content-Type-Options", "nosniff")
	for k, v := range resp.Header {
		h[k] = v
	}
	if resp.StatusCode >= 500 {
		s.log.Info("an endpoint's upstream failed; the call is not charged", "endpoint", e.ID, "status", resp.StatusCode)
	}
	c.Response().WriteHeader(resp.StatusCode)
	_, err = c.Response().Write(body)
	return err
}
