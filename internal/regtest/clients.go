package regtest

import (
	"context"
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
