// Package idempotency defines how Stipend remembers Idempotency-Key requests: the key, a hash
// of the request and, once the first request finished, its response. The HTTP API's middleware
// uses it; the database store implements it.
package idempotency

import (
	"context"
	"time"
)

// State is what Begin found.
type State int

const (
	// Started means the caller now holds the key, under the lease token Begin returned, and
	// must run the request, then Finish or Abandon it with that token.
	Started State = iota
	// Replay means the key finished before: Response holds the first response.
	Replay
	// InProgress means another request holds the key and its lease has not run out.
	InProgress
	// Mismatch means the key was used for a different request.
	Mismatch
)

// Response is a stored response.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
}

// Record is the stored state of one key.
type Record struct {
	RequestHash string
	Done        bool
	LockedUntil time.Time
	Response    Response
}

// Store keeps idempotency keys per principal.
type Store interface {
	// Begin claims key for a request with the given hash, for lease, or reports what an
	// earlier request with the key left. A pending key whose lease ran out is taken over.
	// When the state is Started, token identifies this holder of the key.
	Begin(ctx context.Context, principal, key, requestHash string, lease time.Duration) (state State, token string, resp *Response, err error)

	// Lookup reads a key without changing it. Returns ENOTFOUND.
	Lookup(ctx context.Context, principal, key string) (*Record, error)

	// Finish stores the response of a started request. It reports false, and changes nothing,
	// when the key is no longer held under token (another request took it over).
	Finish(ctx context.Context, principal, key, token string, r Response) (bool, error)

	// Abandon forgets a started request that did not complete, so that a retry runs again.
	// It changes nothing when the key is no longer held under token.
	Abandon(ctx context.Context, principal, key, token string) error
}
