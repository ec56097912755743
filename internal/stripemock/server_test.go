package stripemock_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stipend/stipend/internal/stripemock"
)

func TestMain(m *testing.M) { os.Exit(stripemock.RunMain(m)) }

func TestSharedAnswersOnLoopback(t *testing.T) {
	srv := stripemock.Shared(t)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want http://127.0.0.1:<port>", srv.URL)
	}
	if again := stripemock.Shared(t); again != srv {
		t.Fatal("Shared started a second server")
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/balance", nil)
	req.Header.Set("Authorization", "Bearer "+stripemock.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var bal struct{ Object string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &bal) != nil || bal.Object != "balance" {
		t.Fatalf("GET /v1/balance: %s\n%s", resp.Status, body)
	}
}

// TestStartAndClose starts a second, private server and checks that Close stops it: its port
// no longer answers.
func TestStartAndClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv, err := stripemock.Start(ctx, stripemock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if srv.URL == stripemock.Shared(t).URL {
		t.Fatalf("two servers on %s", srv.URL)
	}
	srv.Close()
	srv.Close() // a second Close does nothing
	if !srv.Exited() {
		t.Fatal("the process is still running after Close")
	}
	c := &http.Client{Timeout: time.Second}
	if resp, err := c.Get(srv.URL + "/v1/balance"); err == nil {
		resp.Body.Close()
		t.Fatalf("%s still answers after Close", srv.URL)
	}
}
