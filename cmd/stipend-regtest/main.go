// Command stipend-regtest starts a private Bitcoin and Lightning network on 127.0.0.1 for
// trying Stipend by hand: btcd in regtest and three lnd nodes (the platform, a payer and a
// payee), funded and joined by channels. It prints the settings that point stipendd at the
// platform node and the lncli commands that drive the payer and the payee, then runs until
// interrupted, and stops everything on the way out.
//
//	go run ./cmd/stipend-regtest [--dir DIR] [--channel-size SAT]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/stipend/stipend/internal/regtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "stipend-regtest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("stipend-regtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "keep the daemons' data and logs in this directory (default: a temporary one, removed at the end)")
	size := fs.Int64("channel-size", 10_000_000, "capacity of each channel, in satoshis")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir != "" {
		abs, err := filepath.Abs(*dir)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return err
		}
		*dir = abs
	}
	startCtx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	net, err := regtest.Start(startCtx, regtest.Options{Dir: *dir, ChannelSize: *size, Log: stderr})
	if err != nil {
		return err
	}
	defer net.Close()
	bins, err := regtest.Build(ctx, io.Discard)
	if err != nil {
		return err
	}
	p := net.Platform
	fmt.Fprintf(stdout, `The regtest network is up (data in %s).

Point stipendd at the platform node:

  export STIPEND_LND_HOST=%s
  export STIPEND_LND_TLS_CERT=%s
  export STIPEND_LND_MACAROON=%s
  export STIPEND_LND_NETWORK=regtest
  export STIPEND_LNURL_INSECURE=true
  go run ./cmd/stipendd serve

Drive the payer and the payee with lncli:

`, net.Dir, p.RPCAddr, p.TLSCertPath, p.MacaroonPath)
	for _, n := range []*regtest.Node{net.Payer, net.Payee, net.Platform} {
		fmt.Fprintf(stdout, "  alias lncli-%s='%s --network=regtest --rpcserver=%s --tlscertpath=%s --macaroonpath=%s'\n",
			n.Name, bins.Lncli, n.RPCAddr, n.TLSCertPath, n.MacaroonPath)
	}
	fmt.Fprintf(stdout, `
  lncli-payer payinvoice <invoice from POST /v1/fundings>
  lncli-payee addinvoice --amt 1000        # an invoice for POST /v1/payouts

btcd's RPC is at %s (user %s, password %s). Press Ctrl-C to stop everything.
`, net.Miner.RPCAddr, net.Miner.RPCUser, net.Miner.RPCPass)
	<-ctx.Done()
	fmt.Fprintln(stderr, "stopping the network")
	return nil
}
