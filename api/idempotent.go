package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/idempotency"
)

// Idempotency headers.
const (
	HeaderIdempotencyKey      = "Idempotency-Key"
	HeaderIdempotencyReplayed = "Idempotency-Replayed"
)

const idempotencyKeyCtx = "stipend.idempotency_key"

// idempotent makes a money-moving route safe to retry. The Idempotency-Key is stored with a
// hash of the request; the first request with a key runs and its response is stored; a later
// request with the same key and request gets that response again, marked
// Idempotency-Replayed: true; the same key with a different request is refused with 409.
// Requests that arrive while the first is still running wait for its response.
//
// Handlers also derive their ledger keys from the Idempotency-Key, so that even a request run
// twice (after its lease ran out) cannot move money twice.
func (s *Server) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key := c.Request().Header.Get(HeaderIdempotencyKey)
		if key == "" {
			return stipend.Errorf(stipend.EINVALID, "this request moves money: send an Idempotency-Key header (for example a UUID) so that it can be retried safely")
		}
		if len(key) > 255 || !printable(key) {
			return stipend.Errorf(stipend.EINVALID, "Idempotency-Key: must be 1 to 255 printable ASCII characters")
		}
		body, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return jsonError(err)
		}
		c.Request().Body = io.NopCloser(bytes.NewReader(body))
		// The content type is part of the request: a body refused as "not JSON" and then resent
		// with the right header is a different request.
		h := sha256.New()
		io.WriteString(h, c.Request().Method+" "+c.Request().URL.RequestURI()+"\n"+c.Request().Header.Get(echo.HeaderContentType)+"\n")
		h.Write(body)
		hash := hex.EncodeToString(h.Sum(nil))

		owner := idempotencyOwner(c)
		ctx := c.Request().Context()
		deadline := time.Now().Add(s.opts.IdempotencyWait)
		for {
			state, token, resp, err := s.idem.Begin(ctx, owner, key, hash, s.opts.IdempotencyLease)
			if err != nil {
				return err
			}
			switch state {
			case idempotency.Started:
				c.Set(idempotencyKeyCtx, key)
				return s.runAndRemember(c, next, owner, key, token)
			case idempotency.Replay:
				return replay(c, resp)
			case idempotency.Mismatch:
				return stipend.Errorf(stipend.EIDEMPOTENCYMISMATCH, "this Idempotency-Key was already used for a different request")
			}
			resp, err = s.awaitFirst(ctx, owner, key, hash, deadline)
			if stipend.ErrorCode(err) == stipend.ECONFLICT {
				c.Response().Header().Set("Retry-After", "1")
			}
			if err != nil {
				return err
			}
			if resp != nil {
				return replay(c, resp)
			}
			// The first request gave up or its lease ran out: try to take the key.
		}
	}
}

// awaitFirst polls a key held by another request until that request stores its response
// (returned), releases or loses the key (nil, nil), or the wait runs out (ECONFLICT).
func (s *Server) awaitFirst(ctx context.Context, principalID, key, hash string, deadline time.Time) (*idempotency.Response, error) {
	wait := 5 * time.Millisecond
	for {
		if time.Now().After(deadline) {
			return nil, stipend.Errorf(stipend.ECONFLICT, "a request with this Idempotency-Key is still in progress; retry later")
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, 100*time.Millisecond)
		rec, err := s.idem.Lookup(ctx, principalID, key)
		if stipend.ErrorCode(err) == stipend.ENOTFOUND {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		switch {
		case rec.RequestHash != hash:
			return nil, stipend.Errorf(stipend.EIDEMPOTENCYMISMATCH, "this Idempotency-Key was already used for a different request")
		case rec.Done:
			return &rec.Response, nil
		case rec.LockedUntil.Before(time.Now()):
			return nil, nil
		}
	}
}

// runAndRemember runs the handler, writes its response (or its error as problem JSON) and
// stores the response under the key. A server error is not stored: the key is released so
// that a retry runs again, which the ledger's own keys make safe.
//
// The handler runs under a deadline inside the key's lease, so that no other request can take
// the key over while this one may still write; and whatever happens, even a panic, the key is
// either finished or released under this request's own lease token.
func (s *Server) runAndRemember(c echo.Context, next echo.HandlerFunc, principalID, key, token string) (err error) {
	bg := context.WithoutCancel(c.Request().Context())
	finished := false
	defer func() {
		if finished {
			return
		}
		if aerr := s.idem.Abandon(bg, principalID, key, token); aerr != nil {
			s.log.Error("releasing an idempotency key", "error", aerr)
		}
	}()
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.opts.IdempotencyLease*3/4)
	defer cancel()
	c.SetRequest(c.Request().WithContext(ctx))
	rec := &recorder{ResponseWriter: c.Response().Writer}
	c.Response().Writer = rec
	if err := next(c); err != nil {
		c.Error(err)
	}
	status := c.Response().Status
	// A server error is not an answer, and neither is a 402: the request is to be sent again,
	// paid, under the same key.
	if status >= 500 || status == http.StatusPaymentRequired || !c.Response().Committed {
		return nil
	}
	r := idempotency.Response{Status: status, ContentType: c.Response().Header().Get(echo.HeaderContentType), Body: rec.body.Bytes()}
	stored, ferr := s.idem.Finish(bg, principalID, key, token, r)
	switch {
	case ferr != nil:
		s.log.Error("storing an idempotent response", "error", ferr)
	case !stored:
		s.log.Warn("an idempotent request outlived its lease; its response was not stored",
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	}
	finished = stored
	return nil
}

func replay(c echo.Context, r *idempotency.Response) error {
	c.Response().Header().Set(HeaderIdempotencyReplayed, "true")
	return c.Blob(r.Status, r.ContentType, r.Body)
}

// idempotencyOwnerKey holds, for a paid request, whose Idempotency-Keys it uses: see
// idempotencyOwner.
const idempotencyOwnerKey = "stipend.idempotency_owner"

// idempotencyOwner is whose key space an Idempotency-Key belongs to: the authenticated account,
// or for a request paid over Lightning by someone who may have no account, its payment.
func idempotencyOwner(c echo.Context) string {
	if o, ok := c.Get(idempotencyOwnerKey).(string); ok && o != "" {
		return o
	}
	return principal(c).Account.ID
}

// idempotencyKey returns the Idempotency-Key of a money-moving request.
func idempotencyKey(c echo.Context) string {
	k, _ := c.Get(idempotencyKeyCtx).(string)
	return k
}

// recorder keeps a copy of the response body.
type recorder struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
