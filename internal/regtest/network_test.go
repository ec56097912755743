package regtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
)

// TestNetworkPaysAcrossItsChannels starts a network and pays over each of its routes: the
// payer pays the platform, the platform pays the payee directly and the payer through the
// payee, for a fee.
func TestNetworkPaysAcrossItsChannels(t *testing.T) {
	// The first run on a machine builds btcd and lnd, which takes about ten minutes when the
	// rest of the test suite competes for the same cores; Shared allows as long.
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	net, err := Start(ctx, Options{Log: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	for _, pay := range [][2]*Node{{net.Payer, net.Platform}, {net.Platform, net.Payee}, {net.Platform, net.Payer}} {
		from, to := pay[0], pay[1]
		inv, err := to.LN.AddInvoice(ctx, &lnrpc.Invoice{Value: 1000, Memo: "test"})
		if err != nil {
			t.Fatal(err)
		}
		stream, err := from.Router.SendPaymentV2(ctx, &routerrpc.SendPaymentRequest{PaymentRequest: inv.PaymentRequest, TimeoutSeconds: 30, FeeLimitSat: 100})
		if err != nil {
			t.Fatal(err)
		}
		for {
			p, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if p.Status == lnrpc.Payment_SUCCEEDED {
				t.Logf("%s paid %s: fee %d msat", from.Name, to.Name, p.FeeMsat)
				break
			}
			if p.Status == lnrpc.Payment_FAILED {
				t.Fatalf("%s could not pay %s: %s", from.Name, to.Name, p.FailureReason)
			}
		}
	}
}
