package regtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/btcsuite/btcd/wire"
	"github.com/lightningnetwork/lnd/lnrpc"
)

// Options shape a network.
type Options struct {
	// Dir holds the daemons' data and logs; a new temporary directory when empty.
	Dir string
	// ChannelSize is the capacity, in satoshis, of each of the three channels.
	ChannelSize int64
	// Log receives progress messages; nil discards them.
	Log io.Writer
}

// Network is a running regtest network.
type Network struct {
	Miner    *Miner
	Platform *Node // Stipend's own node
	Payer    *Node // someone who pays Stipend (funding, hold invoices, 402 calls)
	Payee    *Node // someone Stipend pays (payouts)
	Dir      string
	ownDir   bool
	log      io.Writer
}

// Nodes returns the three Lightning nodes.
func (n *Network) Nodes() []*Node { return []*Node{n.Platform, n.Payer, n.Payee} }

// Start builds the daemons if needed and starts a funded network with its channels usable.
// On error, whatever was started is stopped.
func Start(ctx context.Context, opts Options) (_ *Network, err error) {
	if opts.ChannelSize == 0 {
		opts.ChannelSize = 10_000_000
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	bins, err := Build(ctx, opts.Log)
	if err != nil {
		return nil, err
	}
	net := &Network{Dir: opts.Dir, log: opts.Log}
	if net.Dir == "" {
		if net.Dir, err = os.MkdirTemp("", "stipend-regtest-"); err != nil {
			return nil, err
		}
		net.ownDir = true
	}
	defer func() {
		if err != nil {
			net.Close()
		}
	}()
	began := time.Now()
	if net.Miner, err = startMiner(ctx, bins, net.Dir+"/btcd"); err != nil {
		return nil, err
	}
	// Segwit, which lnd requires, activates on regtest only at block 432; the blocks also give
	// the miner mature coinbases to spend.
	if _, err = net.Miner.Mine(segwitHeight + 68); err != nil {
		return nil, err
	}
	nodes := make([]*Node, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i, name := range []string{"platform", "payer", "payee"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = startNode(ctx, bins, net.Miner, name, net.Dir+"/"+name)
		}()
	}
	wg.Wait()
	net.Platform, net.Payer, net.Payee = nodes[0], nodes[1], nodes[2]
	if err = errors.Join(errs...); err != nil {
		return nil, err
	}
	fmt.Fprintf(net.log, "regtest: btcd and 3 lnd nodes up after %s\n", time.Since(began).Round(time.Millisecond))
	if err = net.fund(ctx); err != nil {
		return nil, err
	}
	if err = net.openChannels(ctx, opts.ChannelSize); err != nil {
		return nil, err
	}
	fmt.Fprintf(net.log, "regtest: channels usable after %s\n", time.Since(began).Round(time.Millisecond))
	return net, nil
}

// Close stops every daemon and removes the network's temporary directory.
func (n *Network) Close() {
	var wg sync.WaitGroup
	for _, node := range n.Nodes() {
		if node != nil {
			wg.Add(1)
			go func() { defer wg.Done(); node.stop() }()
		}
	}
	wg.Wait()
	if n.Miner != nil {
		n.Miner.stop()
	}
	if n.ownDir {
		os.RemoveAll(n.Dir)
	}
}

// fund gives each node two confirmed outputs of 1 BTC.
func (n *Network) fund(ctx context.Context) error {
	const coin = 100_000_000
	for _, node := range n.Nodes() {
		var outs []*wire.TxOut
		for i := 0; i < 2; i++ {
			addr, err := node.LN.NewAddress(ctx, &lnrpc.NewAddressRequest{Type: lnrpc.AddressType_WITNESS_PUBKEY_HASH})
			if err != nil {
				return fmt.Errorf("%s: new address: %w", node.Name, err)
			}
			out, err := PayTo(addr.Address, coin)
			if err != nil {
				return err
			}
			outs = append(outs, out)
		}
		if _, err := n.Miner.Send(outs...); err != nil {
			return fmt.Errorf("funding %s: %w", node.Name, err)
		}
	}
	if err := n.MineAndSync(ctx, 1); err != nil {
		return err
	}
	for _, node := range n.Nodes() {
		if err := poll(ctx, 30*time.Second, node.Name+"'s confirmed balance", func() error {
			b, err := node.LN.WalletBalance(ctx, &lnrpc.WalletBalanceRequest{})
			if err != nil {
				return err
			}
			if b.ConfirmedBalance < 2*coin {
				return fmt.Errorf("confirmed %d sat", b.ConfirmedBalance)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// MineAndSync mines blocks and waits until every node has seen them.
func (n *Network) MineAndSync(ctx context.Context, blocks int) error {
	if _, err := n.Miner.Mine(blocks); err != nil {
		return err
	}
	height, err := n.Miner.Height()
	if err != nil {
		return err
	}
	for _, node := range n.Nodes() {
		if err := poll(ctx, 30*time.Second, node.Name+" to reach block "+fmt.Sprint(height), func() error {
			info, err := node.LN.GetInfo(ctx, &lnrpc.GetInfoRequest{})
			if err != nil {
				return err
			}
			if int32(info.BlockHeight) < height || !info.SyncedToChain {
				return fmt.Errorf("at %d, synced %v", info.BlockHeight, info.SyncedToChain)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// openChannels opens payer → platform, platform → payee and payee → payer, each funded
// entirely by its opener, and waits until every route the tests use works.
func (n *Network) openChannels(ctx context.Context, size int64) error {
	pairs := [][2]*Node{{n.Payer, n.Platform}, {n.Platform, n.Payee}, {n.Payee, n.Payer}}
	for _, p := range pairs {
		from, to := p[0], p[1]
		_, err := from.LN.ConnectPeer(ctx, &lnrpc.ConnectPeerRequest{Addr: &lnrpc.LightningAddress{Pubkey: to.PubKey, Host: to.P2PAddr}, Perm: true})
		if err != nil {
			return fmt.Errorf("connecting %s to %s: %w", from.Name, to.Name, err)
		}
	}
	for _, p := range pairs {
		from, to := p[0], p[1]
		if err := poll(ctx, 30*time.Second, from.Name+" to open a channel to "+to.Name, func() error {
			_, err := from.LN.OpenChannelSync(ctx, &lnrpc.OpenChannelRequest{
				NodePubkeyString: to.PubKey, LocalFundingAmount: size, SatPerVbyte: 1,
			})
			return err
		}); err != nil {
			return err
		}
	}
	// Six confirmations make the channels public, so that the platform learns the payee's
	// channel to the payer and can route through it.
	if err := n.MineAndSync(ctx, 6); err != nil {
		return err
	}
	routes := [][2]*Node{{n.Payer, n.Platform}, {n.Platform, n.Payee}, {n.Platform, n.Payer}, {n.Payee, n.Payer}}
	for _, r := range routes {
		from, to := r[0], r[1]
		if err := poll(ctx, 60*time.Second, "a route from "+from.Name+" to "+to.Name, func() error {
			_, err := from.LN.QueryRoutes(ctx, &lnrpc.QueryRoutesRequest{PubKey: to.PubKey, Amt: 10_000})
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}
