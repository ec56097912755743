package l402

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/stipend/stipend"
	"gopkg.in/macaroon.v2"
)

// The two scheme names of one protocol. LSAT is the original name; aperture's clients still
// send both, so the server accepts and offers both.
const (
	SchemeL402 = "L402"
	SchemeLSAT = "LSAT"
)

// maxCredentialLen bounds the macaroon part of a credential before it is decoded. Our
// macaroons are a few hundred bytes; the bound keeps a hostile header from costing more.
const maxCredentialLen = 8 << 10

// Challenges returns the WWW-Authenticate values offering mac for invoice, LSAT first and then
// L402, in the exact form aperture and lnget parse: macaroon="<base64>", invoice="<bolt11>".
func Challenges(mac *macaroon.Macaroon, invoice string) ([]string, error) {
	b, err := mac.MarshalBinary()
	if err != nil {
		return nil, stipend.Internal(err, "encoding a macaroon")
	}
	v := `macaroon="` + base64.StdEncoding.EncodeToString(b) + `", invoice="` + invoice + `"`
	return []string{SchemeLSAT + " " + v, SchemeL402 + " " + v}, nil
}

// ParseChallenge parses one WWW-Authenticate value written by Challenges (or by aperture),
// for clients. It returns the scheme, the macaroon and the invoice.
func ParseChallenge(value string) (scheme string, mac *macaroon.Macaroon, invoice string, err error) {
	scheme, params, ok := strings.Cut(strings.TrimSpace(value), " ")
	if !ok || !isL402Scheme(scheme) {
		return "", nil, "", stipend.Errorf(stipend.EINVALID, "not an L402 challenge")
	}
	var macB64 string
	for part := range strings.SplitSeq(params, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"`)
		switch strings.ToLower(k) {
		case "macaroon":
			macB64 = v
		case "invoice":
			invoice = v
		}
	}
	if macB64 == "" || invoice == "" {
		return "", nil, "", stipend.Errorf(stipend.EINVALID, "L402 challenge lacks a macaroon or an invoice")
	}
	mac, err = decodeMacaroon(macB64)
	if err != nil {
		return "", nil, "", err
	}
	return scheme, mac, invoice, nil
}

// FormatAuthorization returns the Authorization value presenting mac and preimage under
// scheme (SchemeL402, or SchemeLSAT for old servers).
func FormatAuthorization(scheme string, mac *macaroon.Macaroon, preimage Preimage) (string, error) {
	if !isL402Scheme(scheme) {
		return "", stipend.Errorf(stipend.EINVALID, "unknown L402 scheme")
	}
	b, err := mac.MarshalBinary()
	if err != nil {
		return "", stipend.Internal(err, "encoding a macaroon")
	}
	return scheme + " " + base64.StdEncoding.EncodeToString(b) + ":" + preimage.Hex(), nil
}

// Credential is a parsed Authorization value. It is only parsed: Verify decides whether it is
// any good.
type Credential struct {
	Scheme   string
	Macaroon *macaroon.Macaroon
	Preimage Preimage
}

// HasL402Scheme reports whether an Authorization value uses the L402 or LSAT scheme, so that
// the middleware can hand other schemes (Payment, Bearer) to their own parsers.
func HasL402Scheme(value string) bool {
	scheme, _, _ := strings.Cut(strings.TrimSpace(value), " ")
	return isL402Scheme(scheme)
}

func isL402Scheme(s string) bool {
	// Auth scheme names are case-insensitive (RFC 9110, section 11.1).
	return strings.EqualFold(s, SchemeL402) || strings.EqualFold(s, SchemeLSAT)
}

// ParseAuthorization parses one `L402 <base64 macaroon>:<hex preimage>` (or LSAT) value.
// Errors are EINVALID and never quote the value.
func ParseAuthorization(value string) (*Credential, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(value), " ")
	if !ok || !isL402Scheme(scheme) {
		return nil, stipend.Errorf(stipend.EINVALID, "not an L402 credential")
	}
	rest = strings.TrimSpace(rest)
	// The preimage is the part after the last colon: base64 has no colon, so this is
	// unambiguous.
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return nil, stipend.Errorf(stipend.EINVALID, "L402 credential is not <macaroon>:<preimage>")
	}
	macB64, preHex := rest[:i], rest[i+1:]
	if len(preHex) != hex.EncodedLen(len(Preimage{})) {
		return nil, stipend.Errorf(stipend.EINVALID, "L402 preimage must be 64 hex digits")
	}
	var pre Preimage
	if _, err := hex.Decode(pre[:], []byte(preHex)); err != nil {
		return nil, stipend.Errorf(stipend.EINVALID, "L402 preimage must be 64 hex digits")
	}
	mac, err := decodeMacaroon(macB64)
	if err != nil {
		return nil, err
	}
	canonical := SchemeL402
	if strings.EqualFold(scheme, SchemeLSAT) {
		canonical = SchemeLSAT
	}
	return &Credential{Scheme: canonical, Macaroon: mac, Preimage: pre}, nil
}

// FromHeader finds the L402 credential among a request's Authorization values. aperture's
// client sends the same credential twice, as LSAT and as L402, and a proxy may fold repeated
// headers into one comma-separated value, so every L402 or LSAT value is parsed; they must
// all carry the same credential, since serving one of two different credentials would be a
// guess. It returns nil and no error when the request has no L402 credential at all.
func FromHeader(h http.Header) (*Credential, error) {
	var found *Credential
	var foundRaw string
	for _, v := range h.Values("Authorization") {
		// Neither base64 nor hex has a comma, so a comma only ever separates folded values.
		for part := range strings.SplitSeq(v, ",") {
			if !HasL402Scheme(part) {
				continue
			}
			c, err := ParseAuthorization(part)
			if err != nil {
				return nil, err
			}
			_, raw, _ := strings.Cut(strings.TrimSpace(part), " ")
			raw = strings.TrimSpace(raw)
			if found != nil && raw != foundRaw {
				return nil, stipend.Errorf(stipend.EINVALID, "conflicting L402 credentials")
			}
			if found == nil || c.Scheme == SchemeL402 {
				found, foundRaw = c, raw
			}
		}
	}
	return found, nil
}

func decodeMacaroon(s string) (*macaroon.Macaroon, error) {
	if s == "" || len(s) > maxCredentialLen {
		return nil, stipend.Errorf(stipend.EINVALID, "L402 macaroon is empty or too long")
	}
	// aperture writes standard base64 with padding; some clients drop the padding.
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return nil, stipend.Errorf(stipend.EINVALID, "L402 macaroon is not base64")
		}
	}
	var mac macaroon.Macaroon
	if err := mac.UnmarshalBinary(b); err != nil {
		return nil, stipend.Errorf(stipend.EINVALID, "L402 macaroon does not decode")
	}
	return &mac, nil
}
