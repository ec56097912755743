package client

import (
	"errors"
	"strings"

	"github.com/stipend/stipend/payments/l402"
)

// AuthChallenge is one challenge of a WWW-Authenticate header (RFC 9110, section 11.2): a
// scheme and either auth-params or a token68.
type AuthChallenge struct {
	// Scheme is the scheme as the server wrote it ("L402", "Payment", "Bearer"); schemes are
	// compared case-insensitively.
	Scheme string
	// Params are the auth-params, keyed by lower-case name, with quoted strings unquoted. A
	// parameter repeated keeps its first value.
	Params map[string]string
	// Token68 is the token68 form of the challenge, when it has one instead of params.
	Token68 string
}

// Is reports whether the challenge uses scheme, compared case-insensitively.
func (c AuthChallenge) Is(scheme string) bool { return strings.EqualFold(c.Scheme, scheme) }

// maxChallengeHeader bounds the WWW-Authenticate text parsed. Our challenges are a few
// kilobytes (a macaroon and an invoice, twice, and the Payment request with the invoice).
const maxChallengeHeader = 64 << 10

// ParseAuthChallenges parses the values of WWW-Authenticate headers into challenges. A value
// may hold several challenges separated by commas, as proxies fold repeated headers. Parsing
// is lenient in what it skips: a malformed challenge ends the value it is in, and what was
// parsed before it is kept. It never fails.
func ParseAuthChallenges(values []string) []AuthChallenge {
	var out []AuthChallenge
	total := 0
	for _, v := range values {
		total += len(v)
		if total > maxChallengeHeader {
			break
		}
		out = append(out, parseChallengeValue(v)...)
	}
	return out
}

// challengeLexer walks one header value.
type challengeLexer struct {
	s string
	i int
}

func (l *challengeLexer) eof() bool { return l.i >= len(l.s) }

func (l *challengeLexer) skipSpace() {
	for l.i < len(l.s) && (l.s[l.i] == ' ' || l.s[l.i] == '\t') {
		l.i++
	}
}

// skipSeparators skips whitespace and empty list elements (",  ,").
func (l *challengeLexer) skipSeparators() {
	for l.i < len(l.s) && (l.s[l.i] == ' ' || l.s[l.i] == '\t' || l.s[l.i] == ',') {
		l.i++
	}
}

func isTChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken68Char(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}

func (l *challengeLexer) token() string {
	start := l.i
	for l.i < len(l.s) && isTChar(l.s[l.i]) {
		l.i++
	}
	return l.s[start:l.i]
}

// quoted reads a quoted-string whose opening quote is at l.i, undoing backslash escapes.
func (l *challengeLexer) quoted() (string, bool) {
	l.i++ // the opening quote
	var b strings.Builder
	for l.i < len(l.s) {
		c := l.s[l.i]
		switch c {
		case '"':
			l.i++
			return b.String(), true
		case '\\':
			if l.i+1 >= len(l.s) {
				return "", false
			}
			b.WriteByte(l.s[l.i+1])
			l.i += 2
		default:
			b.WriteByte(c)
			l.i++
		}
	}
	return "", false
}

// paramAhead reports whether an auth-param ("name=" and not a token68's "=" padding) starts
// at l.i, without moving.
func (l *challengeLexer) paramAhead() bool {
	save := l.i
	defer func() { l.i = save }()
	if l.token() == "" {
		return false
	}
	l.skipSpace()
	if l.eof() || l.s[l.i] != '=' {
		return false
	}
	l.i++
	l.skipSpace()
	// "name==" or "name=" at the end or before a comma is a token68 with padding.
	return !l.eof() && l.s[l.i] != '=' && l.s[l.i] != ','
}

func parseChallengeValue(v string) []AuthChallenge {
	l := &challengeLexer{s: v}
	var out []AuthChallenge
	for {
		l.skipSeparators()
		if l.eof() {
			return out
		}
		scheme := l.token()
		if scheme == "" {
			return out // not a challenge: give up on the rest of this value
		}
		ch := AuthChallenge{Scheme: scheme, Params: map[string]string{}}
		// A scheme must be followed by a space, a comma or the end.
		if !l.eof() && l.s[l.i] != ' ' && l.s[l.i] != '\t' && l.s[l.i] != ',' {
			return out
		}
		l.skipSpace()
		if !l.eof() && l.s[l.i] != ',' && !l.paramAhead() {
			// token68
			start := l.i
			for l.i < len(l.s) && isToken68Char(l.s[l.i]) {
				l.i++
			}
			for l.i < len(l.s) && l.s[l.i] == '=' {
				l.i++
			}
			ch.Token68 = l.s[start:l.i]
			l.skipSpace()
			if ch.Token68 == "" || (!l.eof() && l.s[l.i] != ',') {
				return out
			}
			out = append(out, ch)
			continue
		}
		// auth-params, until the next element is not one (it is then the next challenge).
		for {
			l.skipSeparators()
			if l.eof() || !l.paramAhead() {
				break
			}
			name := strings.ToLower(l.token())
			l.skipSpace()
			l.i++ // '='
			l.skipSpace()
			var value string
			if l.s[l.i] == '"' {
				q, ok := l.quoted()
				if !ok {
					return append(out, ch) // an unterminated quote ends the value
				}
				value = q
			} else {
				value = l.token()
			}
			if _, dup := ch.Params[name]; !dup {
				ch.Params[name] = value
			}
			l.skipSpace()
			if !l.eof() && l.s[l.i] != ',' {
				return append(out, ch)
			}
		}
		out = append(out, ch)
	}
}

// ParsePaymentChallenge reads a challenge of the Payment scheme: the challenge as the client
// echoes it in its credential (every field the exact string the server wrote, since the id
// is an HMAC over them) and its decoded request. Only the "lightning" method with the
// "charge" intent is accepted. Errors never quote the challenge.
func ParsePaymentChallenge(c AuthChallenge) (l402.EchoedChallenge, l402.PaymentRequest, error) {
	if !c.Is(l402.SchemePayment) {
		return l402.EchoedChallenge{}, l402.PaymentRequest{}, errors.New("not a Payment challenge")
	}
	p := c.Params
	ch := l402.EchoedChallenge{
		ID: p["id"], Realm: p["realm"], Method: p["method"], Intent: p["intent"],
		Request: p["request"], Expires: p["expires"], Description: p["description"],
	}
	if ch.ID == "" || ch.Request == "" || ch.Method == "" || ch.Intent == "" {
		return l402.EchoedChallenge{}, l402.PaymentRequest{}, errors.New("the Payment challenge lacks an id, method, intent or request")
	}
	if ch.Method != l402.PaymentMethod || ch.Intent != l402.PaymentIntent {
		return l402.EchoedChallenge{}, l402.PaymentRequest{}, errors.New("the Payment challenge is not lightning/charge")
	}
	req, err := l402.DecodePaymentRequest(ch.Request)
	if err != nil {
		return l402.EchoedChallenge{}, l402.PaymentRequest{}, errors.New("the Payment challenge's request does not decode")
	}
	if req.MethodDetails.Invoice == "" {
		return l402.EchoedChallenge{}, l402.PaymentRequest{}, errors.New("the Payment challenge's request has no invoice")
	}
	return ch, req, nil
}
