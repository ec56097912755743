package lnd_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"github.com/lightningnetwork/lnd/lnrpc"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/regtest"
	"github.com/stipend/stipend/payments/lightning/lnd"
)

// dial connects the package under test to one of the network's nodes, as stipendd would.
func dial(t *testing.T, n *regtest.Node) *lnd.Client {
	t.Helper()
	l, err := lnd.Dial(lnd.Config{Host: n.RPCAddr, TLSCertPath: n.TLSCertPath, MacaroonPath: n.MacaroonPath, Network: "regtest"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := stipend.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (%v)", got, code, err)
	}
}

func sha256Hex(hexPreimage string) string {
	b, _ := hex.DecodeString(hexPreimage)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// settledBalance returns a node's local channel balance once no HTLC is in flight: a payment
// reported complete to its sender may still be settling in the receiver's channels.
func settledBalance(t *testing.T, n *regtest.Node) int64 {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < 400; i++ {
		b, err := n.LN.ChannelBalance(ctx, &lnrpc.ChannelBalanceRequest{})
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
