package l402

import (
	"context"
	"crypto/subtle"
	"strconv"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"gopkg.in/macaroon.v2"
)

// Location is the location written into minted macaroons. Clients ignore it; it only says
// who minted the macaroon when one is inspected.
const Location = "stipend"

// RootKeys stores one root key per token id. It is narrow so that the verifier depends on
// nothing else of the store.
type RootKeys interface {
	// NewRootKey creates, stores and returns a fresh random root key for tokenID.
	NewRootKey(ctx context.Context, tokenID TokenID) ([]byte, error)
	// RootKey returns the root key of tokenID, or an ENOTFOUND error.
	RootKey(ctx context.Context, tokenID TokenID) ([]byte, error)
}

// Minter mints and verifies L402 macaroons.
type Minter struct {
	keys RootKeys
}

// NewMinter returns a Minter whose root keys live in keys.
func NewMinter(keys RootKeys) *Minter { return &Minter{keys: keys} }

// MintRequest asks for a macaroon bound to an invoice's payment hash.
type MintRequest struct {
	PaymentHash Hash
	// Caveats restrict the token; RouteCaveats builds them. A route caveat is required.
	Caveats []Caveat
	// Reusable mints a token that opens its route for any number of calls until its expiry
	// caveat, which it must have. Otherwise the token pays for one call, whatever expiry
	// caveats a holder adds to it.
	Reusable bool
}

// The first byte of a token id says what kind of token it is. The identifier is the
// macaroon's id, the start of its signature chain, so a holder cannot change the kind; an
// expiry caveat, which a holder can append, can only shorten a token's life, never make a
// single-use token reusable.
const (
	kindSingleUse byte = 0
	kindReusable  byte = 1
)

// Mint returns a new macaroon for req, signed with a root key of its own.
func (m *Minter) Mint(ctx context.Context, req MintRequest) (*macaroon.Macaroon, error) {
	// Refusing to mint without a route caveat keeps a bug in a caller from handing out a
	// token that the verifier would refuse anyway (and that would open every route if it
	// did not).
	hasRoute, hasExpiry := false, false
	for _, c := range req.Caveats {
		if !known(c.Condition) {
			return nil, stipend.Errorf(stipend.EINVALID, "unknown caveat condition %q", c.Condition)
		}
		hasRoute = hasRoute || c.Condition == CondRoute
		hasExpiry = hasExpiry || c.Condition == CondExpires
	}
	if !hasRoute {
		return nil, stipend.Errorf(stipend.EINVALID, "an L402 token needs a route caveat")
	}
	if req.Reusable && !hasExpiry {
		return nil, stipend.Errorf(stipend.EINVALID, "a reusable L402 token needs an expiry caveat")
	}
	tokenID, err := NewTokenID()
	if err != nil {
		return nil, err
	}
	tokenID[0] = kindSingleUse
	if req.Reusable {
		tokenID[0] = kindReusable
	}
	id, err := EncodeIdentifier(Identifier{Version: Version, PaymentHash: req.PaymentHash, TokenID: tokenID})
	if err != nil {
		return nil, err
	}
	key, err := m.keys.NewRootKey(ctx, tokenID)
	if err != nil {
		return nil, err
	}
	mac, err := macaroon.New(key, id, Location, macaroon.LatestVersion)
	if err != nil {
		return nil, stipend.Internal(err, "creating a macaroon")
	}
	for _, c := range req.Caveats {
		if err := mac.AddFirstPartyCaveat([]byte(c.String())); err != nil {
			return nil, stipend.Internal(err, "adding a caveat")
		}
	}
	return mac, nil
}

func known(cond string) bool {
	return cond == CondRoute || cond == CondExpires || cond == CondMethod || cond == CondAccount
}

// VerifyRequest is a presented credential and the request it is presented for.
type VerifyRequest struct {
	Macaroon *macaroon.Macaroon
	Preimage Preimage
	// Route is the route pattern being called, compared exactly with the route caveats.
	Route string
	// Method is the HTTP method being called, compared with any method caveat.
	Method string
	// Account, when set, is the account the route acts for: the token must carry exactly
	// this account caveat. A token with an account caveat is refused when Account is empty.
	Account string
	// Now is the time expiry caveats are checked against.
	Now time.Time
}

// Token is a verified credential.
type Token struct {
	PaymentHash Hash
	TokenID     TokenID
	// Expires is the earliest expiry caveat, or zero when the token has none.
	Expires time.Time
	// Reusable says the token was minted to open its route until Expires; a single-use token
	// pays for one call.
	Reusable bool
}

// refused is the one error of every refusal: see the package comment for why it never says
// which check failed.
func refused() error {
	return stipend.Errorf(stipend.EUNAUTHORIZED, "invalid L402 credential")
}

// Verify checks a presented credential: the identifier decodes, its token id has a root key,
// the macaroon's signature chain is intact under that key (so no caveat was removed, changed
// or reordered), every caveat is one we know and holds for this request, and the preimage
// hashes to the identifier's payment hash. Single use is not checked here: that takes the
// consumed-payment table, in the transaction of the side effect.
func (m *Minter) Verify(ctx context.Context, req VerifyRequest) (*Token, error) {
	if req.Macaroon == nil {
		return nil, refused()
	}
	id, err := DecodeIdentifier(req.Macaroon.Id())
	if err != nil {
		return nil, refused()
	}
	// The preimage is checked before the root key lookup: it costs one hash and no database
	// round trip, and it is the check a guessing attacker fails.
	got := req.Preimage.Hash()
	if subtle.ConstantTimeCompare(got[:], id.PaymentHash[:]) != 1 {
		return nil, refused()
	}
	key, err := m.keys.RootKey(ctx, id.TokenID)
	if stipend.ErrorCode(err) == stipend.ENOTFOUND {
		return nil, refused()
	}
	if err != nil {
		// A database failure is not the client's fault: report it as what it is, so the
		// middleware answers 5xx instead of asking for a payment again.
		return nil, err
	}
	tok := &Token{PaymentHash: id.PaymentHash, TokenID: id.TokenID, Reusable: id.TokenID[0] == kindReusable}
	hasRoute, hasAccount := false, false
	check := func(raw string) error {
		c, err := ParseCaveat(raw)
		if err != nil {
			return err
		}
		// Several caveats with one condition may appear when a holder attenuates a token;
		// each must hold on its own, so an added caveat can only narrow what a token opens.
		switch c.Condition {
		case CondRoute:
			if c.Value != req.Route {
				return refused()
			}
			hasRoute = true
		case CondMethod:
			if !strings.EqualFold(c.Value, req.Method) {
				return refused()
			}
		case CondAccount:
			if c.Value != req.Account {
				return refused()
			}
			hasAccount = true
		case CondExpires:
			secs, err := strconv.ParseInt(c.Value, 10, 64)
			if err != nil {
				return refused()
			}
			exp := time.Unix(secs, 0).UTC()
			if !req.Now.Before(exp) {
				return refused()
			}
			if tok.Expires.IsZero() || exp.Before(tok.Expires) {
				tok.Expires = exp
			}
		default:
			return refused()
		}
		return nil
	}
	// Verify recomputes the HMAC chain from the root key over the id and every caveat, and
	// calls check on each first-party caveat. A third-party caveat fails for want of a
	// discharge macaroon, which we never accept.
	if err := req.Macaroon.Verify(key, check, nil); err != nil {
		return nil, refused()
	}
	if !hasRoute || hasAccount != (req.Account != "") || (tok.Reusable && tok.Expires.IsZero()) {
		return nil, refused()
	}
	return tok, nil
}
