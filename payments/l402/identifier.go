package l402

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/stipend/stipend"
)

const (
	// Version is the identifier version this package mints. Version 0 is the only one aperture
	// and its clients know.
	Version uint16 = 0

	// IdentifierSize is the length of an encoded version 0 identifier: version, payment hash,
	// token id.
	IdentifierSize = 2 + sha256.Size + TokenIDSize

	// TokenIDSize is the size of a token id.
	TokenIDSize = 32
)

// Hash is a Lightning payment hash, the SHA-256 of the preimage.
type Hash [sha256.Size]byte

// String returns the hash hex-encoded, the form Lightning tools and our tables use.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Preimage is a Lightning payment preimage: the proof of payment, and so a secret.
type Preimage [32]byte

// Hash returns the payment hash this preimage pays.
func (p Preimage) Hash() Hash { return sha256.Sum256(p[:]) }

// String hides the preimage, so that formatting one into a log line or an error with %v or %s
// cannot leak a proof of payment. Use Hex for the wire.
func (p Preimage) String() string { return "preimage(redacted)" }

// Hex returns the preimage hex-encoded, as it travels in an Authorization header.
func (p Preimage) Hex() string { return hex.EncodeToString(p[:]) }

// TokenID identifies one minted macaroon and its root key.
type TokenID [TokenIDSize]byte

// String returns the token id hex-encoded, as stored in l402_root_keys.
func (t TokenID) String() string { return hex.EncodeToString(t[:]) }

// NewTokenID returns a random token id. Token ids are random rather than derived from the
// payment hash so that two tokens minted for one invoice still get distinct root keys.
func NewTokenID() (TokenID, error) {
	var t TokenID
	if _, err := rand.Read(t[:]); err != nil {
		return TokenID{}, stipend.Internal(err, "generating an L402 token id")
	}
	return t, nil
}

// Identifier is what a macaroon's id carries: which payment it is bound to and which root key
// signed it.
type Identifier struct {
	Version     uint16
	PaymentHash Hash
	TokenID     TokenID
}

// EncodeIdentifier returns id in aperture's binary form: a big-endian uint16 version, then for
// version 0 the payment hash and the token id. It refuses any other version, since no client
// could decode it.
func EncodeIdentifier(id Identifier) ([]byte, error) {
	if id.Version != Version {
		return nil, stipend.Errorf(stipend.EINVALID, "unknown L402 identifier version %d", id.Version)
	}
	b := make([]byte, 0, IdentifierSize)
	b = binary.BigEndian.AppendUint16(b, id.Version)
	b = append(b, id.PaymentHash[:]...)
	b = append(b, id.TokenID[:]...)
	return b, nil
}

// DecodeIdentifier parses an identifier encoded by EncodeIdentifier. Unlike aperture's decoder
// it requires the exact length: trailing bytes would let two different macaroon ids name the
// same token, and a short id must not decode into zero-padded fields.
func DecodeIdentifier(b []byte) (Identifier, error) {
	if len(b) < 2 {
		return Identifier{}, stipend.Errorf(stipend.EINVALID, "L402 identifier too short")
	}
	var id Identifier
	id.Version = binary.BigEndian.Uint16(b)
	if id.Version != Version {
		return Identifier{}, stipend.Errorf(stipend.EINVALID, "unknown L402 identifier version %d", id.Version)
	}
	if len(b) != IdentifierSize {
		return Identifier{}, stipend.Errorf(stipend.EINVALID, "L402 identifier is %d bytes, want %d", len(b), IdentifierSize)
	}
	copy(id.PaymentHash[:], b[2:2+sha256.Size])
	copy(id.TokenID[:], b[2+sha256.Size:])
	return id, nil
}

// ParseHash decodes a hex payment hash. Returns EINVALID.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != hex.EncodedLen(len(h)) {
		return Hash{}, stipend.Errorf(stipend.EINVALID, "a payment hash is 64 hex digits")
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return Hash{}, stipend.Errorf(stipend.EINVALID, "a payment hash is 64 hex digits")
	}
	return h, nil
}

// ParsePreimage decodes a hex preimage, as a Lightning node reports it. Returns EINVALID.
func ParsePreimage(s string) (Preimage, error) {
	var p Preimage
	if len(s) != hex.EncodedLen(len(p)) {
		return Preimage{}, stipend.Errorf(stipend.EINVALID, "a preimage is 64 hex digits")
	}
	if _, err := hex.Decode(p[:], []byte(s)); err != nil {
		return Preimage{}, stipend.Errorf(stipend.EINVALID, "a preimage is 64 hex digits")
	}
	return p, nil
}
