package safehttp_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/stipend/stipend/internal/safehttp"
)

func TestSafeHTTPPublicAddresses(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "169.254.169.254": false,
		"0.0.0.0": false, "100.64.0.1": false, "::1": false, "fe80::1": false, "fc00::1": false, "::ffff:127.0.0.1": false,
		"224.0.0.1": false, "64:ff9b::a00:1": false, "0.1.2.3": false, "::127.0.0.1": false, "2002:7f00:1::1": false,
		"2001:0:4136:e378::1": false, "fec0::1": false,
	} {
		if got := safehttp.Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestSafeHTTPRefusesLoopbackUnlessAllowed(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	t.Cleanup(ts.Close)
	if _, err := safehttp.NewClient(safehttp.Options{Timeout: 5 * time.Second}).Get(ts.URL); err == nil {
		t.Fatal("the client reached a loopback address")
	}
	resp, err := safehttp.NewClient(safehttp.Options{AllowPrivate: true, Timeout: 5 * time.Second}).Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d: the redirect was followed, want it relayed", resp.StatusCode)
	}
}
