package l402_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
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
	req := l402.PaymentRequest{Amount: "2100", Currency: "sat", Invoice: "lnbcrt21u1pjexample", PaymentHash: l402.Hash{1}.String()}
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
	raw, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil || string(raw) != `{"amount":"2100","currency":"sat","invoice":"lnbcrt21u1pjexample","payment_hash":"`+req.PaymentHash+`"}` {
		t.Fatalf("request = %s, %v", raw, err)
	}
	tests := []struct {
		name                               string
		key                                []byte
		id, realm, method, intent, request string
		expires, now                       time.Time
		ok                                 bool
	}{
		{name: "genuine", key: key, id: c.ID, realm: c.Realm, method: c.Method, intent: c.Intent, request: encoded, expires: expires, now: now, ok: true},
		{name: "another key", key: []byte("another key"), id: c.ID, realm: c.Realm, method: c.Method, intent: c.Intent, request: encoded, expires: expires, now: now},
		{name: "tampered id", key: key, id: c.ID[:len(c.ID)-1] + "A", realm: c.Realm, method: c.Method, intent: c.Intent, request: encoded, expires: expires, now: now},
		{name: "tampered realm", key: key, id: c.ID, realm: "evil.example", method: c.Method, intent: c.Intent, request: encoded, expires: expires, now: now},
		{name: "tampered method", key: key, id: c.ID, realm: c.Realm, method: "tempo", intent: c.Intent, request: encoded, expires: expires, now: now},
		{name: "tampered intent", key: key, id: c.ID, realm: c.Realm, method: c.Method, intent: "session", request: encoded, expires: expires, now: now},
		{name: "tampered request", key: key, id: c.ID, realm: c.Realm, method: c.Method, intent: c.Intent, request: encoded + "x", expires: expires, now: now},
		{name: "bytes moved between fields", key: key, id: c.ID, realm: c.Realm + "l", method: "ightning", intent: c.Intent, request: encoded, expires: expires, now: now},
		{name: "extended expiry", key: key, id: c.ID, realm: c.Realm, method: c.Method, intent: c.Intent, request: encoded, expires: expires.Add(time.Hour), now: now},
		{name: "expired", key: key, id: c.ID, realm: c.Realm, method: c.Method, intent: c.Intent, request: encoded, expires: expires, now: expires},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := l402.VerifyPaymentChallenge(tt.key, tt.id, tt.realm, tt.method, tt.intent, tt.request, tt.expires, tt.now)
			if tt.ok && err != nil {
				t.Fatalf("verify: %v", err)
			}
			if !tt.ok {
				wantCode(t, err, stipend.EUNAUTHORIZED)
			}
		})
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
