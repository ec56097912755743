package regtest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"

	"github.com/stipend/stipend/payments/lightning/lnd"
)

// Client returns Stipend's own lnd client (the lightning.Node that stipendd uses) for n,
// closed when the test ends.
func (n *Node) Client(t testing.TB) *lnd.Client {
	t.Helper()
	c, err := lnd.Dial(lnd.Config{Host: n.RPCAddr, TLSCertPath: n.TLSCertPath, MacaroonPath: n.MacaroonPath, Network: "regtest"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// SettledBalance returns n's local channel balance once no HTLC is in flight: a payment
// reported complete to its sender may still be settling in the receiver's channels.
func (n *Node) SettledBalance(t testing.TB) int64 {
	t.Helper()
	for range 400 {
		b, err := n.LN.ChannelBalance(context.Background(), &lnrpc.ChannelBalanceRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if b.UnsettledLocalBalance.GetMsat() == 0 && b.UnsettledRemoteBalance.GetMsat() == 0 {
			return int64(b.LocalBalance.GetMsat())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s's channels never settled", n.Name)
	return 0
}

// ServeLightningAddress serves a Lightning Address, name@127.0.0.1:port over plain HTTP, whose
// invoices n makes, until the test ends, and returns it. Resolving it needs a resolver that
// allows insecure addresses, as regtest servers run with --lnurl-insecure.
func (n *Node) ServeLightningAddress(t testing.TB, name string) string {
	t.Helper()
	metadata := `[["text/plain","` + name + `"]]`
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("/.well-known/lnurlp/"+name, func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"tag": "payRequest", "callback": srv.URL + "/cb", "minSendable": 1000,
			"maxSendable": 100_000_000, "metadata": metadata})
	})
	mux.HandleFunc("/cb", func(w http.ResponseWriter, r *http.Request) {
		amount, err := strconv.ParseInt(r.URL.Query().Get("amount"), 10, 64)
		if err != nil {
			http.Error(w, "amount: "+err.Error(), http.StatusBadRequest)
			return
		}
		h := sha256.Sum256([]byte(metadata))
		inv, err := n.LN.AddInvoice(r.Context(), &lnrpc.Invoice{ValueMsat: amount, DescriptionHash: h[:]})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"pr": inv.PaymentRequest})
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return name + "@" + strings.TrimPrefix(srv.URL, "http://")
}
