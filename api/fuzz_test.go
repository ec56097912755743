package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/internal/dbtest"
)

// FuzzAuthorizationHeader sends arbitrary Authorization headers: none may authenticate
// except the exact admin key, and none may make the server fail.
func FuzzAuthorizationHeader(f *testing.F) {
	ts := newTestServer(f, dbtest.Open(f, db.SQLite))
	ts.validate = false
	for _, seed := range []string{
		"", "Bearer", "Bearer ", "Bearer " + ts.admin, "bearer " + ts.admin, "Basic dXNlcjpwYXNz",
		"Bearer " + ts.admin + "x", "Bearer " + strings.ToUpper(ts.admin), "Bearer stp_", "Bearer " + ts.admin[:20],
		"L402 abc:def", "Bearer \x00", "Bearer  " + ts.admin,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req, err := http.NewRequest(http.MethodGet, ts.url+"/v1/me", nil)
		if err != nil {
			t.Skip()
		}
		req.Header["Authorization"] = []string{header}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Skip() // net/http refuses to send some header bytes at all
		}
		resp.Body.Close()
		scheme, token, _ := strings.Cut(header, " ")
		exact := strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(token) == ts.admin
		switch {
		case resp.StatusCode >= 500:
			t.Fatalf("header %q: server error %d", header, resp.StatusCode)
		case resp.StatusCode == http.StatusOK && !exact:
			t.Fatalf("header %q authenticated", header)
		case resp.StatusCode != http.StatusOK && exact:
			t.Fatalf("the admin key in %q was refused: %d", header, resp.StatusCode)
		}
	})
}

// FuzzAdminCreditBody sends arbitrary request bodies to a money-moving endpoint: the server
// answers each with a success or a client error, never a server error, and a success always
// credits a positive amount of a known asset.
func FuzzAdminCreditBody(f *testing.F) {
	ts := newTestServer(f, dbtest.Open(f, db.SQLite))
	ts.validate = false
	alice, _ := ts.createUser("alice")
	for _, seed := range []string{
		`{"account_id":"` + alice.ID + `","amount":100,"asset":"USD"}`,
		`{"account_id":"` + alice.ID + `","amount":-1,"asset":"USD"}`,
		`{"account_id":"` + alice.ID + `","amount":1.5,"asset":"BTC"}`,
		`{"account_id":"` + alice.ID + `","amount":9223372036854775807,"asset":"EUR"}`,
		`{"account_id":"` + alice.ID + `","amount":1,"asset":"USD","x":1}`,
		`{"amount":1}`, `[]`, `null`, `{`, `{"account_id":null}`, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		post := func() (*http.Response, []byte) {
			req, err := http.NewRequest(http.MethodPost, ts.url+"/v1/admin/credits", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+ts.admin)
			req.Header.Set("Idempotency-Key", key(body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			return resp, out
		}
		resp, out := post()
		if resp.StatusCode >= 500 {
			t.Fatalf("body %q: server error %d: %s", body, resp.StatusCode, out)
		}
		if resp.StatusCode != http.StatusCreated {
			return
		}
		var tx wire.Transaction
		if err := json.Unmarshal(out, &tx); err != nil {
			t.Fatal(err)
		}
		credited := false
		for _, e := range tx.Entries {
			if e.Address == "accounts:"+alice.ID {
				credited = e.Amount > 0 && (e.Asset == "BTC" || e.Asset == "USD" || e.Asset == "EUR")
			}
		}
		if !credited || tx.Kind != "admin_credit" {
			t.Fatalf("body %q made %+v", body, tx)
		}
		// The same request again is a replay, not a second credit.
		again, out2 := post()
		if again.Header.Get("Idempotency-Replayed") != "true" || string(out2) != string(out) {
			t.Fatalf("body %q was not replayed: %d %s", body, again.StatusCode, out2)
		}
	})
}

// key derives an Idempotency-Key from a request body, so that a fuzz input replayed from the
// corpus meets its own earlier key.
func key(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}
