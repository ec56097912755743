package l402_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
	"github.com/stipend/stipend/internal/store"
	"github.com/stipend/stipend/payments/l402"
	"gopkg.in/macaroon.v2"
)

const route = "/v1/experts/:handle/ask"

var now = time.Unix(1_800_000_000, 0).UTC()

// newMinter returns a Minter whose root keys live in a fresh SQLite store.
func newMinter(t testing.TB) *l402.Minter {
	t.Helper()
	return l402.NewMinter(store.New(dbtest.Open(t, db.SQLite), nil))
}

// newPreimage returns a random preimage.
func newPreimage(t testing.TB) l402.Preimage {
	t.Helper()
	var p l402.Preimage
	if _, err := rand.Read(p[:]); err != nil {
		t.Fatal(err)
	}
	return p
}

// mint mints a macaroon paid by pre with the given caveats.
func mint(t testing.TB, m *l402.Minter, pre l402.Preimage, caveats []l402.Caveat) *macaroon.Macaroon {
	t.Helper()
	mac, err := m.Mint(context.Background(), l402.MintRequest{PaymentHash: pre.Hash(), Caveats: caveats})
	if err != nil {
		t.Fatalf("minting: %v", err)
	}
	return mac
}

// editCaveats returns a copy of mac whose caveat list was rewritten by edit, keeping the
// original signature: what an attacker can do without the root key.
func editCaveats(t testing.TB, mac *macaroon.Macaroon, edit func([]any) []any) *macaroon.Macaroon {
	t.Helper()
	b, err := mac.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	cs, _ := j["c"].([]any)
	j["c"] = edit(cs)
	if b, err = json.Marshal(j); err != nil {
		t.Fatal(err)
	}
	var out macaroon.Macaroon
	if err := out.UnmarshalJSON(b); err != nil {
		t.Fatalf("rebuilding the macaroon: %v", err)
	}
	return &out
}

// wantCode fails the test unless err carries code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := stipend.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

func TestL402Verify(t *testing.T) {
	t.Parallel()
	m := newMinter(t)
	pre := newPreimage(t)
	expires := now.Add(time.Hour)
	mac := mint(t, m, pre, l402.RouteCaveats(route, "post", expires))
	single := mint(t, m, pre, l402.RouteCaveats(route, "", time.Time{}))
	// A macaroon signed with a key the store never saw: its token id is unknown.
	id, err := l402.EncodeIdentifier(l402.Identifier{PaymentHash: pre.Hash(), TokenID: l402.TokenID{1}})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := macaroon.New(make([]byte, 32), id, l402.Location, macaroon.LatestVersion)
	if err != nil {
		t.Fatal(err)
	}
	if err := stranger.AddFirstPartyCaveat([]byte("route=" + route)); err != nil {
		t.Fatal(err)
	}
	withCaveat := func(c string) *macaroon.Macaroon {
		m := mac.Clone()
		if err := m.AddFirstPartyCaveat([]byte(c)); err != nil {
			t.Fatal(err)
		}
		return m
	}
	tests := []struct {
		name   string
		mac    *macaroon.Macaroon
		pre    l402.Preimage
		route  string
		method string
		now    time.Time
		ok     bool
	}{
		{name: "valid", mac: mac, pre: pre, route: route, method: "POST", now: now, ok: true},
		{name: "method is case-insensitive", mac: mac, pre: pre, route: route, method: "post", now: now, ok: true},
		{name: "single-use token without expiry", mac: single, pre: pre, route: route, method: "GET", now: now.Add(1000 * time.Hour), ok: true},
		{name: "attenuated by an added caveat that holds", mac: withCaveat("expires=" + strconv.FormatInt(now.Add(time.Minute).Unix(), 10)), pre: pre, route: route, method: "POST", now: now, ok: true},
		{name: "forged preimage", mac: mac, pre: newPreimage(t), route: route, method: "POST", now: now},
		{name: "another route", mac: mac, pre: pre, route: "/v1/experts/:handle", method: "POST", now: now},
		{name: "another method", mac: mac, pre: pre, route: route, method: "GET", now: now},
		{name: "expired", mac: mac, pre: pre, route: route, method: "POST", now: expires},
		{name: "unknown token id", mac: stranger, pre: pre, route: route, method: "POST", now: now},
		{name: "added unknown caveat", mac: withCaveat("tier=gold"), pre: pre, route: route, method: "POST", now: now},
		{name: "added caveat for another route", mac: withCaveat("route=/other"), pre: pre, route: route, method: "POST", now: now},
		{name: "added malformed caveat", mac: withCaveat("no-equals-sign"), pre: pre, route: route, method: "POST", now: now},
		{name: "expiry caveat removed", mac: editCaveats(t, mac, func(cs []any) []any { return cs[:2] }), pre: pre, route: route, method: "POST", now: expires.Add(time.Hour)},
		{name: "route caveat removed", mac: editCaveats(t, mac, func(cs []any) []any { return cs[1:] }), pre: pre, route: "/elsewhere", method: "POST", now: now},
		{name: "route caveat changed", mac: editCaveats(t, mac, func(cs []any) []any {
			cs[0] = map[string]any{"i": "route=/elsewhere"}
			return cs
		}), pre: pre, route: "/elsewhere", method: "POST", now: now},
		{name: "expiry caveat changed", mac: editCaveats(t, mac, func(cs []any) []any {
			cs[2] = map[string]any{"i": "expires=" + strconv.FormatInt(expires.Add(24*time.Hour).Unix(), 10)}
			return cs
		}), pre: pre, route: route, method: "POST", now: expires.Add(time.Hour)},
		{name: "nil macaroon", mac: nil, pre: pre, route: route, method: "POST", now: now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := m.Verify(context.Background(), l402.VerifyRequest{Macaroon: tt.mac, Preimage: tt.pre, Route: tt.route, Method: tt.method, Now: tt.now})
			if !tt.ok {
				wantCode(t, err, stipend.EUNAUTHORIZED)
				if msg := err.Error(); strings.Contains(msg, tt.pre.Hex()) || strings.Contains(msg, pre.Hex()) {
					t.Fatalf("refusal %q quotes the preimage", msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if tok.PaymentHash != pre.Hash() {
				t.Fatalf("payment hash = %s, want %s", tok.PaymentHash, pre.Hash())
			}
			if got, _ := l402.DecodeIdentifier(tt.mac.Id()); tok.TokenID != got.TokenID {
				t.Fatalf("token id = %s, want %s", tok.TokenID, got.TokenID)
			}
		})
	}
	t.Run("expiry is returned", func(t *testing.T) {
		t.Parallel()
		tok, err := m.Verify(context.Background(), l402.VerifyRequest{Macaroon: mac, Preimage: pre, Route: route, Method: "POST", Now: now})
		if err != nil || !tok.Expires.Equal(expires) {
			t.Fatalf("expires = %v, %v; want %v", tok.Expires, err, expires)
		}
	})
}

func TestL402MintRefuses(t *testing.T) {
	t.Parallel()
	m := newMinter(t)
	tests := []struct {
		name    string
		caveats []l402.Caveat
	}{
		{name: "no route caveat", caveats: []l402.Caveat{{Condition: l402.CondExpires, Value: "1"}}},
		{name: "no caveats", caveats: nil},
		{name: "unknown condition", caveats: []l402.Caveat{{Condition: l402.CondRoute, Value: route}, {Condition: "tier", Value: "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := m.Mint(context.Background(), l402.MintRequest{Caveats: tt.caveats})
			wantCode(t, err, stipend.EINVALID)
		})
	}
}

func TestL402Identifier(t *testing.T) {
	t.Parallel()
	id := l402.Identifier{Version: 0, PaymentHash: l402.Hash{0xaa, 1}, TokenID: l402.TokenID{0xbb, 2}}
	b, err := l402.EncodeIdentifier(id)
	if err != nil {
		t.Fatal(err)
	}
	// The layout aperture decodes: big-endian uint16 version, hash, token id.
	if len(b) != 66 || b[0] != 0 || b[1] != 0 || b[2] != 0xaa || b[34] != 0xbb {
		t.Fatalf("encoding = %x", b)
	}
	got, err := l402.DecodeIdentifier(b)
	if err != nil || got != id {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	if _, err := l402.EncodeIdentifier(l402.Identifier{Version: 1}); stipend.ErrorCode(err) != stipend.EINVALID {
		t.Fatalf("encoding version 1: %v", err)
	}
	bad := []struct {
		name string
		b    []byte
	}{
		{name: "empty", b: nil},
		{name: "one byte", b: []byte{0}},
		{name: "short", b: b[:65]},
		{name: "long", b: append(append([]byte{}, b...), 0)},
		{name: "version 1", b: append([]byte{0, 1}, b[2:]...)},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := l402.DecodeIdentifier(tt.b); stipend.ErrorCode(err) != stipend.EINVALID {
				t.Fatalf("decode = %v, want EINVALID", err)
			}
		})
	}
}

func TestL402Headers(t *testing.T) {
	t.Parallel()
	m := newMinter(t)
	pre := newPreimage(t)
	mac := mint(t, m, pre, l402.RouteCaveats(route, "", now.Add(time.Hour)))
	const invoice = "lnbcrt21u1pjexample"

	t.Run("challenge round trip", func(t *testing.T) {
		t.Parallel()
		cs, err := l402.Challenges(mac, invoice)
		if err != nil || len(cs) != 2 {
			t.Fatalf("challenges = %q, %v", cs, err)
		}
		for i, want := range []string{"LSAT", "L402"} {
			if !strings.HasPrefix(cs[i], want+` macaroon="`) || !strings.HasSuffix(cs[i], `", invoice="`+invoice+`"`) {
				t.Fatalf("challenge %d = %q", i, cs[i])
			}
			scheme, got, inv, err := l402.ParseChallenge(cs[i])
			if err != nil || scheme != want || inv != invoice || !got.Equal(mac) {
				t.Fatalf("parse %q = %s, %s, %v", cs[i], scheme, inv, err)
			}
		}
	})
	t.Run("authorization round trip", func(t *testing.T) {
		t.Parallel()
		for _, scheme := range []string{l402.SchemeL402, l402.SchemeLSAT} {
			v, err := l402.FormatAuthorization(scheme, mac, pre)
			if err != nil {
				t.Fatal(err)
			}
			c, err := l402.ParseAuthorization(v)
			if err != nil || c.Scheme != scheme || c.Preimage != pre || !c.Macaroon.Equal(mac) {
				t.Fatalf("parse %s: %+v, %v", scheme, c, err)
			}
			if _, err := m.Verify(context.Background(), l402.VerifyRequest{Macaroon: c.Macaroon, Preimage: c.Preimage, Route: route, Now: now}); err != nil {
				t.Fatalf("verify parsed %s credential: %v", scheme, err)
			}
		}
	})
	l402v, _ := l402.FormatAuthorization(l402.SchemeL402, mac, pre)
	lsatv, _ := l402.FormatAuthorization(l402.SchemeLSAT, mac, pre)
	other := mint(t, m, pre, l402.RouteCaveats(route, "", time.Time{}))
	otherv, _ := l402.FormatAuthorization(l402.SchemeL402, other, pre)
	macB64 := strings.TrimPrefix(strings.Split(l402v, ":")[0], "L402 ")

	t.Run("from header", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name   string
			values []string
			want   *macaroon.Macaroon
			code   string
		}{
			{name: "none", values: nil},
			{name: "bearer only", values: []string{"Bearer abc"}},
			{name: "L402", values: []string{l402v}, want: mac},
			{name: "LSAT then L402, as aperture's client sends", values: []string{lsatv, l402v}, want: mac},
			{name: "folded by a proxy", values: []string{lsatv + ", " + l402v}, want: mac},
			{name: "two different credentials", values: []string{l402v, otherv}, code: stipend.EINVALID},
			{name: "malformed", values: []string{"L402 garbage"}, code: stipend.EINVALID},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				h := http.Header{}
				for _, v := range tt.values {
					h.Add("Authorization", v)
				}
				c, err := l402.FromHeader(h)
				if tt.code != "" {
					wantCode(t, err, tt.code)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if (c == nil) != (tt.want == nil) || (c != nil && !c.Macaroon.Equal(tt.want)) {
					t.Fatalf("credential = %+v, want macaroon %v", c, tt.want != nil)
				}
			})
		}
	})
	t.Run("bad authorization", func(t *testing.T) {
		t.Parallel()
		hexPre := pre.Hex()
		bad := []string{
			"",
			"L402",
			"Bearer " + macB64 + ":" + hexPre,
			"L402 " + macB64,
			"L402 " + macB64 + ":" + hexPre[:63],
			"L402 " + macB64 + ":" + hexPre + "00",
			"L402 " + macB64 + ":" + strings.Repeat("zz", 32),
			"L402 :" + hexPre,
			"L402 !!!!:" + hexPre,
			"L402 " + base64.StdEncoding.EncodeToString([]byte("not a macaroon")) + ":" + hexPre,
			"L402 " + strings.Repeat("A", 9000) + ":" + hexPre,
		}
		for _, v := range bad {
			c, err := l402.ParseAuthorization(v)
			wantCode(t, err, stipend.EINVALID)
			if c != nil || strings.Contains(err.Error(), hexPre) || strings.Contains(err.Error(), macB64) {
				t.Fatalf("parse %.40q = %+v, %v: want no credential and no echo of it", v, c, err)
			}
		}
	})
}

func TestL402PaymentChallenge(t *testing.T) {
	t.Parallel()
	key := []byte("server key of at least 32 bytes!")
	pre := newPreimage(t)
	req := l402.PaymentRequest{Amount: "2100", Currency: "sat", MethodDetails: l402.PaymentDetails{
		Invoice: "lnbcrt21u1pjexample", Network: "regtest", PaymentHash: pre.Hash().String()}}
	expires := now.Add(10 * time.Minute)
	c, err := l402.NewPaymentChallenge(key, "stipend.example", req, expires)
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.Header()
	if err != nil {
		t.Fatal(err)
	}
	encoded, _ := req.EncodeRequest()
	wantHeader := `Payment id="` + c.ID + `", realm="stipend.example", method="lightning", intent="charge", request="` +
		encoded + `", expires="` + expires.Format(time.RFC3339) + `"`
	if h != wantHeader {
		t.Fatalf("header = %s\nwant     %s", h, wantHeader)
	}
	// The request is JCS: sorted keys at every level, no whitespace.
	raw, err := base64.RawURLEncoding.DecodeString(encoded)
	wantRaw := `{"amount":"2100","currency":"sat","methodDetails":{"invoice":"lnbcrt21u1pjexample","network":"regtest","paymentHash":"` +
		pre.Hash().String() + `"}}`
	if err != nil || string(raw) != wantRaw {
		t.Fatalf("request = %s, %v", raw, err)
	}
	echo, err := c.Echo()
	if err != nil {
		t.Fatal(err)
	}
	other := newPreimage(t)
	tests := []struct {
		name   string
		key    []byte
		mutate func(*l402.EchoedChallenge)
		pre    l402.Preimage
		now    time.Time
		ok     bool
	}{
		{name: "genuine", key: key, pre: pre, now: now, ok: true},
		{name: "another key", key: []byte("another key"), pre: pre, now: now},
		{name: "another preimage", key: key, pre: other, now: now},
		{name: "tampered id", key: key, pre: pre, now: now, mutate: func(e *l402.EchoedChallenge) { e.ID = e.ID[:len(e.ID)-1] + otherChar(e.ID[len(e.ID)-1]) }},
		{name: "tampered realm", key: key, pre: pre, now: now, mutate: func(e *l402.EchoedChallenge) { e.Realm = "evil.example" }},
		{name: "tampered method", key: key, pre: pre, now: now, mutate: func(e *l402.EchoedChallenge) { e.Method = "tempo" }},
		{name: "tampered intent", key: key, pre: pre, now: now, mutate: func(e *l402.EchoedChallenge) { e.Intent = "session" }},
		{name: "tampered request", key: key, pre: pre, now: now, mutate: func(e *l402.EchoedChallenge) { e.Request += "x" }},
		{name: "bytes moved between fields", key: key, pre: pre, now: now, mutate: func(e *l402.EchoedChallenge) {
			e.Realm += "l"
			e.Method = "ightning"
		}},
		{name: "extended expiry", key: key, pre: pre, now: now, mutate: func(e *l402.EchoedChallenge) {
			e.Expires = expires.Add(time.Hour).Format(time.RFC3339)
		}},
		// A paid challenge pays after it expired: the expiry bounds paying, and the preimage
		// proves the payment was made.
		{name: "paid, presented after its expiry", key: key, pre: pre, now: expires.Add(time.Hour), ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch := echo
			if tt.mutate != nil {
				tt.mutate(&ch)
			}
			authz, err := l402.FormatPaymentAuthorization(ch, tt.pre)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(authz, tt.pre.Hex()) {
				t.Fatal("the preimage travels in clear text: it should be inside the base64url credential")
			}
			cred, gotPre, err := l402.ParsePaymentAuthorization(authz)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			gotReq, hash, err := l402.VerifyPayment(tt.key, cred, gotPre, tt.now)
			if tt.ok {
				if err != nil {
					t.Fatalf("verify: %v", err)
				}
				if hash != pre.Hash() || gotReq != req {
					t.Fatalf("verified hash %s request %+v, want %s %+v", hash, gotReq, pre.Hash(), req)
				}
				return
			}
			wantCode(t, err, stipend.EUNAUTHORIZED)
			if err != nil && strings.Contains(err.Error(), tt.pre.Hex()) {
				t.Fatal("the error quotes the preimage")
			}
		})
	}
}

func TestL402PaymentReceiptRoundTrips(t *testing.T) {
	t.Parallel()
	r := l402.Receipt{ChallengeID: "abc", Method: "lightning", Reference: l402.Hash{7}.String(), Timestamp: now.Format(time.RFC3339)}
	got, err := l402.DecodeReceipt(l402.EncodeReceipt(r))
	r.Status = "success"
	if err != nil || got != r {
		t.Fatalf("receipt = %+v, %v; want %+v", got, err, r)
	}
	if _, err := l402.DecodeReceipt("%%%"); stipend.ErrorCode(err) != stipend.EINVALID {
		t.Fatalf("a garbled receipt: %v, want EINVALID", err)
	}
}

func TestL402PaymentAuthorizationRefusesMalformedValues(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"", "Payment", "Payment ", "Bearer abc", "Payment !!!", "Payment e30",
		"Payment " + base64.RawURLEncoding.EncodeToString([]byte(`{"challenge":{"id":"x"},"payload":{"preimage":"zz"}}`))} {
		if _, _, err := l402.ParsePaymentAuthorization(v); stipend.ErrorCode(err) != stipend.EINVALID {
			t.Errorf("%q: %v, want EINVALID", v, err)
		}
	}
}

// FuzzL402ParseAuthorization feeds arbitrary Authorization values through parsing and
// verification. Parsing must never panic, and a value may only be accepted when it carries
// the very macaroon and preimage that were minted: no mutation of a credential opens a route.
func FuzzL402ParseAuthorization(f *testing.F) {
	m := newMinter(f)
	pre := newPreimage(f)
	mac := mint(f, m, pre, l402.RouteCaveats(route, "", now.Add(time.Hour)))
	valid, err := l402.FormatAuthorization(l402.SchemeL402, mac, pre)
	if err != nil {
		f.Fatal(err)
	}
	legacy, _ := l402.FormatAuthorization(l402.SchemeLSAT, mac, pre)
	for _, s := range []string{valid, legacy, "", "L402 ", "L402 :", "LSAT a:b", valid + "0", strings.Replace(valid, "L402", "l402", 1), valid[:len(valid)/2]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		c, err := l402.ParseAuthorization(v)
		if err != nil {
			if c != nil {
				t.Fatal("a credential returned with an error")
			}
			return
		}
		tok, err := m.Verify(context.Background(), l402.VerifyRequest{Macaroon: c.Macaroon, Preimage: c.Preimage, Route: route, Now: now})
		if err != nil {
			return
		}
		if tok == nil || c.Preimage != pre || !c.Macaroon.Equal(mac) {
			t.Fatalf("accepted a credential that is not the minted one: %q", v)
		}
	})
}

// TestL402ChallengesParseAsLightningLabsClientsParseThem matches the challenges against the
// expression aperture's client interceptor (and lnget) applies to a WWW-Authenticate value,
// and decodes what it captures as they do: standard base64, a binary macaroon, an identifier
// of version 0 whose payment hash is the invoice's.
func TestL402ChallengesParseAsLightningLabsClientsParseThem(t *testing.T) {
	t.Parallel()
	m := newMinter(t)
	pre := newPreimage(t)
	mac := mint(t, m, pre, l402.RouteCaveats(route, "", time.Time{}))
	values, err := l402.Challenges(mac, "lnbcrt210n1pexample")
	if err != nil {
		t.Fatal(err)
	}
	apertureRegex := regexp.MustCompile(`(LSAT|L402) macaroon="(.*?)", invoice="(.*?)"`)
	for _, v := range values {
		match := apertureRegex.FindStringSubmatch(v)
		if match == nil || match[3] != "lnbcrt210n1pexample" {
			t.Fatalf("%q does not match the clients' expression", v)
		}
		raw, err := base64.StdEncoding.DecodeString(match[2])
		if err != nil {
			t.Fatalf("macaroon is not standard base64: %v", err)
		}
		var got macaroon.Macaroon
		if err := got.UnmarshalBinary(raw); err != nil {
			t.Fatal(err)
		}
		id, err := l402.DecodeIdentifier(got.Id())
		if err != nil || id.Version != 0 || id.PaymentHash != pre.Hash() {
			t.Fatalf("identifier = %+v, %v", id, err)
		}
	}
}

// TestL402AccountCaveatBindsTheToken checks the account caveat both ways: a token bound to an
// account opens the route only for that account, and a route that acts for an account takes
// no token that is not bound to it.
func TestL402AccountCaveatBindsTheToken(t *testing.T) {
	t.Parallel()
	m := newMinter(t)
	pre := newPreimage(t)
	bound := mint(t, m, pre, append(l402.RouteCaveats(route, "", time.Time{}), l402.AccountCaveat("acct_a")))
	unbound := mint(t, m, pre, l402.RouteCaveats(route, "", time.Time{}))
	if got := l402.CaveatValue(bound, l402.CondAccount); got != "acct_a" {
		t.Fatalf("CaveatValue = %q", got)
	}
	for _, tt := range []struct {
		name    string
		mac     *macaroon.Macaroon
		account string
		ok      bool
	}{
		{"bound, its account", bound, "acct_a", true},
		{"bound, another account", bound, "acct_b", false},
		{"bound, no account asked", bound, "", false},
		{"unbound, an account asked", unbound, "acct_a", false},
		{"unbound, no account asked", unbound, "", true},
	} {
		_, err := m.Verify(context.Background(), l402.VerifyRequest{Macaroon: tt.mac, Preimage: pre, Route: route, Account: tt.account, Now: now})
		if tt.ok && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if !tt.ok && stipend.ErrorCode(err) != stipend.EUNAUTHORIZED {
			t.Errorf("%s: %v, want EUNAUTHORIZED", tt.name, err)
		}
	}
}

// otherChar returns a base64url character other than c, so that a tampered id always differs.
func otherChar(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestL402HolderCannotMakeASingleUseTokenReusable appends an expiry caveat to a single-use
// token, as any holder can: the token still verifies (the caveat only narrows it) but stays
// single-use, while a token minted reusable says so.
func TestL402HolderCannotMakeASingleUseTokenReusable(t *testing.T) {
	t.Parallel()
	m := newMinter(t)
	pre := newPreimage(t)
	single := mint(t, m, pre, l402.RouteCaveats(route, "", time.Time{}))
	extended := single.Clone()
	if err := extended.AddFirstPartyCaveat([]byte(l402.Caveat{Condition: l402.CondExpires, Value: "4102444800"}.String())); err != nil {
		t.Fatal(err)
	}
	tok, err := m.Verify(context.Background(), l402.VerifyRequest{Macaroon: extended, Preimage: pre, Route: route, Now: now})
	if err != nil || tok.Reusable {
		t.Fatalf("a single-use token with a holder's expiry: %+v, %v; want verified and not reusable", tok, err)
	}
	reusable, err := m.Mint(context.Background(), l402.MintRequest{PaymentHash: pre.Hash(), Caveats: l402.RouteCaveats(route, "", now.Add(time.Hour)), Reusable: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err = m.Verify(context.Background(), l402.VerifyRequest{Macaroon: reusable, Preimage: pre, Route: route, Now: now})
	if err != nil || !tok.Reusable || !tok.Expires.Equal(now.Add(time.Hour).Truncate(time.Second)) {
		t.Fatalf("a reusable token: %+v, %v", tok, err)
	}
	if _, err := m.Mint(context.Background(), l402.MintRequest{PaymentHash: pre.Hash(), Caveats: l402.RouteCaveats(route, "", time.Time{}), Reusable: true}); stipend.ErrorCode(err) != stipend.EINVALID {
		t.Fatalf("a reusable token without an expiry: %v, want EINVALID", err)
	}
}
