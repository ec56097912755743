package regtest

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/invoicesrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"google.golang.org/grpc"
)

// Node is one running lnd, with gRPC clients for the harness's own use.
type Node struct {
	Name         string
	Dir          string
	PubKey       string
	RPCAddr      string // gRPC, host:port
	P2PAddr      string
	TLSCertPath  string
	MacaroonPath string // admin.macaroon

	proc     *process
	conn     *grpc.ClientConn
	LN       lnrpc.LightningClient
	Router   routerrpc.RouterClient
	Invoices invoicesrpc.InvoicesClient
}

func startNode(ctx context.Context, bins *Binaries, miner *Miner, name, dir string) (*Node, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rpcPort, err := freePort()
	if err != nil {
		return nil, err
	}
	p2pPort, err := freePort()
	if err != nil {
		return nil, err
	}
	n := &Node{
		Name:         name,
		Dir:          dir,
		RPCAddr:      hostPort(rpcPort),
		P2PAddr:      hostPort(p2pPort),
		TLSCertPath:  filepath.Join(dir, "tls.cert"),
		MacaroonPath: filepath.Join(dir, "data", "chain", "bitcoin", "regtest", "admin.macaroon"),
	}
	n.proc, err = startProcess(name, bins.Lnd, filepath.Join(dir, "lnd.out"),
		"--lnddir="+dir,
		"--alias="+name,
		"--noseedbackup",
		"--nobootstrap",
		"--norest",
		"--debuglevel=info",
		"--bitcoin.regtest",
		"--bitcoin.node=btcd",
		"--btcd.rpchost="+miner.RPCAddr,
		"--btcd.rpcuser="+miner.RPCUser,
		"--btcd.rpcpass="+miner.RPCPass,
		"--btcd.rawrpccert="+hex.EncodeToString(miner.RPCCert),
		"--rpclisten="+n.RPCAddr,
		"--listen="+n.P2PAddr,
		"--externalip="+n.P2PAddr,
		"--bitcoin.defaultchanconfs=1",
		"--bitcoin.defaultremotedelay=4",
		"--trickledelay=50",
		"--gossip.sub-batch-delay=5ms",
		"--caches.rpc-graph-cache-duration=100ms",
		"--db.batch-commit-interval=10ms",
		"--maxpendingchannels=10",
		"--accept-keysend",
		"--logging.no-commit-hash",
	)
	if err != nil {
		return nil, err
	}
	if err := n.connect(ctx); err != nil {
		n.stop()
		return nil, fmt.Errorf("%s: %w\n%s", name, err, n.proc.logTail(30))
	}
	return n, nil
}

// connect waits for lnd's certificate and macaroon, dials it and waits until its wallet is
// synced to the chain.
func (n *Node) connect(ctx context.Context) error {
	if err := poll(ctx, 60*time.Second, n.Name+"'s credentials", func() error {
		if n.proc.exited() {
			return fmt.Errorf("lnd exited")
		}
		for _, p := range []string{n.TLSCertPath, n.MacaroonPath} {
			if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
				return fmt.Errorf("%s not written yet", filepath.Base(p))
			}
		}
		return nil
	}); err != nil {
		return err
	}
	conn, err := lndclient.NewBasicConn(n.RPCAddr, n.TLSCertPath, filepath.Dir(n.MacaroonPath), "regtest",
		lndclient.MacFilename(filepath.Base(n.MacaroonPath)))
	if err != nil {
		return err
	}
	n.conn = conn
	n.LN = lnrpc.NewLightningClient(conn)
	n.Router = routerrpc.NewRouterClient(conn)
	n.Invoices = invoicesrpc.NewInvoicesClient(conn)
	return n.WaitSynced(ctx)
}

// WaitSynced waits until the node's wallet and graph have caught up with the chain.
func (n *Node) WaitSynced(ctx context.Context) error {
	return poll(ctx, 60*time.Second, n.Name+" to sync", func() error {
		info, err := n.LN.GetInfo(ctx, &lnrpc.GetInfoRequest{})
		if err != nil {
			return err
		}
		if !info.SyncedToChain {
			return fmt.Errorf("not synced to the chain (block %d)", info.BlockHeight)
		}
		n.PubKey = info.IdentityPubkey
		return nil
	})
}

func (n *Node) stop() {
	if n == nil {
		return
	}
	if n.conn != nil {
		n.conn.Close()
	}
	n.proc.stop(15 * time.Second)
}

// LogTail returns the end of the node's log, for the messages of failed tests.
func (n *Node) LogTail(lines int) string { return n.proc.logTail(lines) }
