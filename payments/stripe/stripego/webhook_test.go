package stripego_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/stripe/stripego"
)

const (
	whsec     = "whsec_test_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH"
	tolerance = 5 * time.Minute
)

var signedAt = time.Unix(1_750_000_000, 0)

func verifier(t testing.TB) *stripego.Client {
	return newClient(t, stripego.Config{APIKey: "sk_test_1", WebhookSecret: whsec, Tolerance: tolerance})
}

func event(id string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"object":"event","api_version":"2020-08-27","type":"payment_intent.succeeded","created":1750000000,"account":"acct_9",`+
		`"data":{"object":{"id":"pi_1","object":"payment_intent","amount":2500,"currency":"usd","metadata":{"stipend_funding":"fnd_1"}}}}`, id))
}

func TestVerifyValid(t *testing.T) {
	v := verifier(t)
	body := event("evt_1")
	for _, now := range []time.Time{signedAt, signedAt.Add(tolerance), signedAt.Add(-tolerance)} {
		ev, err := v.Verify(body, stripego.SignPayload(body, whsec, signedAt), now)
		if err != nil {
			t.Fatalf("Verify at %v: %v", now.Sub(signedAt), err)
		}
		if ev.ID != "evt_1" || ev.Type != "payment_intent.succeeded" || ev.Account != "acct_9" || !ev.Created.Equal(time.Unix(1750000000, 0)) {
			t.Errorf("event %+v", ev)
		}
		var obj struct {
			ID       string
			Amount   int64
			Metadata map[string]string
		}
		if err := json.Unmarshal(ev.Object, &obj); err != nil || obj.ID != "pi_1" || obj.Amount != 2500 || obj.Metadata["stipend_funding"] != "fnd_1" {
			t.Errorf("object %s (%v)", ev.Object, err)
		}
	}
	// A header with several signatures, as during a secret roll, verifies if one does.
	h := stripego.SignPayload(body, whsec, signedAt)
	other := stripego.SignPayload(body, "whsec_old", signedAt)
	rolled := h + ",v1=" + other[strings.Index(other, "v1=")+3:] + ",v0=abc"
	if _, err := v.Verify(body, rolled, signedAt); err != nil {
		t.Errorf("two signatures: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	v := verifier(t)
	body := event("evt_1")
	good := stripego.SignPayload(body, whsec, signedAt)
	sig := good[strings.Index(good, "v1=")+3:]
	ts := strconv.FormatInt(signedAt.Unix(), 10)
	tampered := []byte(strings.Replace(string(body), "2500", "2501", 1))
	cases := []struct {
		name   string
		body   []byte
		header string
		now    time.Time
	}{
		{"tampered body", tampered, good, signedAt},
		{"body with a trailing space", append(append([]byte(nil), body...), ' '), good, signedAt},
		{"wrong secret", body, stripego.SignPayload(body, "whsec_wrong", signedAt), signedAt},
		{"empty secret", body, stripego.SignPayload(body, "", signedAt), signedAt},
		{"stale", body, good, signedAt.Add(tolerance + time.Second)},
		{"future", body, good, signedAt.Add(-tolerance - time.Second)},
		{"re-signed in the past", body, stripego.SignPayload(body, whsec, signedAt.Add(-time.Hour)), signedAt},
		{"re-signed in the future", body, stripego.SignPayload(body, whsec, signedAt.Add(time.Hour)), signedAt},
		{"missing header", body, "", signedAt},
		{"garbage", body, "garbage", signedAt},
		{"no timestamp", body, "v1=" + sig, signedAt},
		{"no signature", body, "t=" + ts, signedAt},
		{"only v0", body, "t=" + ts + ",v0=" + sig, signedAt},
		{"timestamp not a number", body, "t=soon,v1=" + sig, signedAt},
		{"negative timestamp", body, "t=-1,v1=" + sig, signedAt},
		{"huge timestamp", body, "t=9223372036854775807,v1=" + sig, signedAt},
		{"two timestamps, the fresh one first", body, "t=" + ts + ",t=1,v1=" + sig, signedAt},
		{"a fresh timestamp before a stale signed one", body,
			"t=" + ts + "," + stripego.SignPayload(body, whsec, signedAt.Add(-time.Hour)), signedAt},
		{"signature not hex", body, "t=" + ts + ",v1=zz", signedAt},
		{"truncated signature", body, "t=" + ts + ",v1=" + sig[:32], signedAt},
		{"spaces", body, "t=" + ts + ", v1=" + sig, signedAt},
		{"extra equals", body, "t=" + ts + ",v1=" + sig + "=", signedAt},
		{"signed, but not JSON", []byte("hello"), stripego.SignPayload([]byte("hello"), whsec, signedAt), signedAt},
		{"signed, but no id", []byte(`{"type":"x","data":{"object":{}}}`), stripego.SignPayload([]byte(`{"type":"x","data":{"object":{}}}`), whsec, signedAt), signedAt},
		{"signed, but no data.object", []byte(`{"id":"evt_1","type":"x"}`), stripego.SignPayload([]byte(`{"id":"evt_1","type":"x"}`), whsec, signedAt), signedAt},
		{"signed, data.object not an object", []byte(`{"id":"evt_1","type":"x","data":{"object":[1]}}`),
			stripego.SignPayload([]byte(`{"id":"evt_1","type":"x","data":{"object":[1]}}`), whsec, signedAt), signedAt},
	}
	var msg string
	for _, tc := range cases {
		ev, err := v.Verify(tc.body, tc.header, tc.now)
		if stipend.ErrorCode(err) != stipend.EINVALID || ev != nil {
			t.Errorf("%s: event %v, error %v; want EINVALID", tc.name, ev, err)
			continue
		}
		if msg == "" {
			msg = stipend.ErrorMessage(err)
		}
		if m := stipend.ErrorMessage(err); m != msg {
			t.Errorf("%s: message %q, want the fixed %q", tc.name, m, msg)
		}
		if strings.Contains(err.Error(), whsec) || (tc.header != "" && strings.Contains(err.Error(), tc.header)) || strings.Contains(err.Error(), sig) {
			t.Errorf("%s: the error quotes the secret or the header: %v", tc.name, err)
		}
	}

	// Without a secret nothing verifies, not even what is signed with the empty secret.
	none := newClient(t, stripego.Config{APIKey: "sk_test_1"})
	if _, err := none.Verify(body, stripego.SignPayload(body, "", signedAt), signedAt); stipend.ErrorCode(err) != stipend.EINVALID {
		t.Errorf("no secret configured: %v", err)
	}
}

// TestVerifyDefaultTolerance: a zero tolerance means five minutes.
func TestVerifyDefaultTolerance(t *testing.T) {
	v := newClient(t, stripego.Config{APIKey: "sk_test_1", WebhookSecret: whsec})
	body := event("evt_2")
	h := stripego.SignPayload(body, whsec, signedAt)
	if _, err := v.Verify(body, h, signedAt.Add(stripego.DefaultTolerance)); err != nil {
		t.Errorf("at the tolerance: %v", err)
	}
	if _, err := v.Verify(body, h, signedAt.Add(stripego.DefaultTolerance+time.Second)); err == nil {
		t.Error("beyond the tolerance: accepted")
	}
}

// signedWith is the fuzz test's oracle, written from Stripe's documentation independently of
// the code under test: the header has exactly one t, within the tolerance of now, and a v1
// that is the hex HMAC-SHA256 of "t.payload" under the secret.
func signedWith(payload []byte, header, secret string, now time.Time) bool {
	var t string
	nt := 0
	var sigs []string
	for _, pair := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return false
		}
		switch k {
		case "t":
			t = v
			nt++
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if nt != 1 {
		return false
	}
	sec, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Unix() - sec; d > int64(tolerance/time.Second) || d < -int64(tolerance/time.Second) {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", sec)
	mac.Write(payload)
	want := hex.EncodeToString(mac.Sum(nil))
	for _, s := range sigs {
		if strings.EqualFold(s, want) {
			return true
		}
	}
	return false
}

// FuzzVerify: nothing is accepted unless it was signed with the secret, at a time within the
// tolerance. The seeds are valid deliveries and mutations of them.
func FuzzVerify(f *testing.F) {
	body := event("evt_fuzz")
	good := stripego.SignPayload(body, whsec, signedAt)
	sig := good[strings.Index(good, "v1=")+3:]
	ts := strconv.FormatInt(signedAt.Unix(), 10)
	now := signedAt.Unix()
	f.Add(body, good, now)
	f.Add(body, good, now+299)
	f.Add(body, good, now-299)
	f.Add(body, good, now+301)
	f.Add(body, stripego.SignPayload(body, "whsec_other", signedAt), now)
	f.Add([]byte(strings.Replace(string(body), "2500", "25000", 1)), good, now)
	f.Add(body, "t="+ts+",v1="+sig+",v1=00", now)
	f.Add(body, "t="+ts+",t="+ts+",v1="+sig, now)
	f.Add(body, "t=1,"+good, now)
	f.Add(body, "v1="+sig, now)
	f.Add(body, "", now)
	f.Add([]byte{}, stripego.SignPayload(nil, whsec, signedAt), now)
	f.Add([]byte(`{"id":"evt_1","type":"t","data":{"object":{}}}`), stripego.SignPayload([]byte(`{"id":"evt_1","type":"t","data":{"object":{}}}`), whsec, signedAt), now)
	v := verifier(f)
	f.Fuzz(func(t *testing.T, payload []byte, header string, nowUnix int64) {
		if nowUnix < 0 || nowUnix > 1e11 {
			return
		}
		now := time.Unix(nowUnix, 0)
		ev, err := v.Verify(payload, header, now)
		if err != nil {
			if stipend.ErrorCode(err) != stipend.EINVALID || ev != nil {
				t.Fatalf("refused with %v (event %v), want EINVALID and no event", err, ev)
			}
			if strings.Contains(err.Error(), whsec) {
				t.Fatalf("the error quotes the secret: %v", err)
			}
			return
		}
		if !signedWith(payload, header, whsec, now) {
			t.Fatalf("accepted a delivery not signed with the secret within the tolerance:\nheader %q\nbody %q", header, payload)
		}
		if ev == nil || ev.ID == "" || ev.Type == "" || !json.Valid(ev.Object) {
			t.Fatalf("accepted an incomplete event %+v", ev)
		}
	})
}

// TestVerifyConnectEndpointSecret accepts deliveries signed with the Connect endpoint's secret
// too, which is the only one connected accounts' events are signed with, and still nothing
// signed with a third.
func TestVerifyConnectEndpointSecret(t *testing.T) {
	const connect = "whsec_connect_7DbZ3k"
	v := newClient(t, stripego.Config{APIKey: "sk_test_1", WebhookSecret: whsec, ConnectWebhookSecret: connect, Tolerance: tolerance})
	body := event("evt_connect")
	for secret, ok := range map[string]bool{whsec: true, connect: true, "whsec_other": false} {
		_, err := v.Verify(body, stripego.SignPayload(body, secret, signedAt), signedAt)
		if ok && err != nil {
			t.Errorf("signed with %s: %v", secret[:12], err)
		}
		if !ok && stipend.ErrorCode(err) != stipend.EINVALID {
			t.Errorf("signed with another secret: %v, want EINVALID", err)
		}
	}
}
