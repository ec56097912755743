package regtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Params are the chain parameters of the network.
var Params = &chaincfg.RegressionNetParams

// segwitHeight is the height at which btcd's regtest activates segwit, which lnd needs.
const segwitHeight = 432

// Miner is the btcd node, and a key of its own that every mined block pays, so that it can
// fund the Lightning nodes by spending its coinbases.
type Miner struct {
	proc     *process
	RPCAddr  string
	RPCUser  string
	RPCPass  string
	RPCCert  []byte // the PEM certificate of btcd's RPC server
	P2PAddr  string
	client   *rpcclient.Client
	key      *btcec.PrivateKey
	address  btcutil.Address
	pkScript []byte

	mu        sync.Mutex
	coinbases []coinbase // unspent, oldest first
}

type coinbase struct {
	outpoint wire.OutPoint
	value    int64
	height   int32
}

func startMiner(ctx context.Context, bins *Binaries, dir string) (*Miner, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	key, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, err
	}
	addr, err := btcutil.NewAddressPubKeyHash(btcutil.Hash160(key.PubKey().SerializeCompressed()), Params)
	if err != nil {
		return nil, err
	}
	pkScript, err := txscript.PayToAddrScript(addr)
	if err != nil {
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
	m := &Miner{RPCAddr: hostPort(rpcPort), P2PAddr: hostPort(p2pPort), RPCUser: "stipend", RPCPass: "regtest",
		key: key, address: addr, pkScript: pkScript}
	certPath, keyPath := filepath.Join(dir, "rpc.cert"), filepath.Join(dir, "rpc.key")
	m.proc, err = startProcess("btcd", bins.Btcd, filepath.Join(dir, "btcd.log"),
		"--regtest",
		"--datadir="+filepath.Join(dir, "data"),
		"--logdir="+filepath.Join(dir, "logs"),
		"--rpcuser="+m.RPCUser, "--rpcpass="+m.RPCPass,
		"--rpclisten="+m.RPCAddr, "--listen="+m.P2PAddr,
		"--rpccert="+certPath, "--rpckey="+keyPath,
		"--miningaddr="+addr.EncodeAddress(),
		"--txindex", "--nobanning", "--nostalldetect", "--rpcmaxwebsockets=50",
		"--trickleinterval=100ms", "--debuglevel=info",
	)
	if err != nil {
		return nil, err
	}
	if err := poll(ctx, 30*time.Second, "btcd's RPC certificate", func() error {
		if m.proc.exited() {
			return fmt.Errorf("btcd exited: %s", m.proc.logTail(20))
		}
		b, err := os.ReadFile(certPath)
		if err != nil || len(b) == 0 {
			return fmt.Errorf("no certificate yet")
		}
		m.RPCCert = b
		return nil
	}); err != nil {
		m.stop()
		return nil, err
	}
	m.client, err = rpcclient.New(&rpcclient.ConnConfig{
		Host: m.RPCAddr, User: m.RPCUser, Pass: m.RPCPass, Certificates: m.RPCCert,
		HTTPPostMode: true,
	}, nil)
	if err != nil {
		m.stop()
		return nil, err
	}
	if err := poll(ctx, 30*time.Second, "btcd's RPC server", func() error {
		_, err := m.client.GetBlockCount()
		return err
	}); err != nil {
		m.stop()
		return nil, fmt.Errorf("%w\n%s", err, m.proc.logTail(20))
	}
	return m, nil
}

func (m *Miner) stop() {
	if m.client != nil {
		m.client.Shutdown()
	}
	m.proc.stop(10 * time.Second)
}

// Height returns the height of the chain's tip.
func (m *Miner) Height() (int32, error) {
	n, err := m.client.GetBlockCount()
	return int32(n), err
}

// Mine mines n blocks and returns their hashes. Their coinbases pay the miner's key.
func (m *Miner) Mine(n int) ([]*chainhash.Hash, error) {
	hashes, err := m.client.Generate(uint32(n))
	if err != nil {
		return nil, fmt.Errorf("mining %d blocks: %w", n, err)
	}
	height, err := m.Height()
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, h := range hashes {
		block, err := m.client.GetBlock(h)
		if err != nil {
			return nil, err
		}
		cb := block.Transactions[0]
		m.coinbases = append(m.coinbases, coinbase{
			outpoint: wire.OutPoint{Hash: cb.TxHash(), Index: 0},
			value:    cb.TxOut[0].Value,
			height:   height - int32(len(hashes)-1-i),
		})
	}
	return hashes, nil
}

// sendFee is what every funding transaction pays: far above btcd's minimum relay fee for
// the size of transactions the miner builds.
const sendFee = 10_000

// Send pays the outputs from one mature coinbase, returns the change to the miner, and
// broadcasts the transaction. It does not mine it.
func (m *Miner) Send(outputs ...*wire.TxOut) (*chainhash.Hash, error) {
	height, err := m.Height()
	if err != nil {
		return nil, err
	}
	var total int64
	for _, o := range outputs {
		total += o.Value
	}
	m.mu.Lock()
	idx := -1
	for i, cb := range m.coinbases {
		if height-cb.height >= int32(Params.CoinbaseMaturity) && cb.value >= total+sendFee {
			idx = i
			break
		}
	}
	if idx < 0 {
		m.mu.Unlock()
		return nil, fmt.Errorf("no mature coinbase of at least %d sat", total+sendFee)
	}
	cb := m.coinbases[idx]
	m.coinbases = append(m.coinbases[:idx], m.coinbases[idx+1:]...)
	m.mu.Unlock()

	tx := wire.NewMsgTx(wire.TxVersion)
	tx.AddTxIn(wire.NewTxIn(&cb.outpoint, nil, nil))
	for _, o := range outputs {
		tx.AddTxOut(o)
	}
	if change := cb.value - total - sendFee; change > 0 {
		tx.AddTxOut(wire.NewTxOut(change, m.pkScript))
	}
	sig, err := txscript.SignatureScript(tx, 0, m.pkScript, txscript.SigHashAll, m.key, true)
	if err != nil {
		return nil, err
	}
	tx.TxIn[0].SignatureScript = sig
	return m.client.SendRawTransaction(tx, true)
}

// PayTo returns an output paying amount satoshis to a regtest address.
func PayTo(address string, amount int64) (*wire.TxOut, error) {
	addr, err := btcutil.DecodeAddress(address, Params)
	if err != nil {
		return nil, err
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, err
	}
	return wire.NewTxOut(amount, script), nil
}
