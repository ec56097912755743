// Package regtest runs a private Bitcoin and Lightning network on 127.0.0.1 for tests and for
// manual use: one btcd in regtest mode and three lnd nodes, the platform (Stipend's own node),
// a payer and a payee, funded by mining and joined by channels
//
//	payer → platform → payee → payer
//
// so that the payer can pay the platform's invoices, the platform can pay the payee directly,
// and the platform can reach the payer only through the payee, a route with a fee.
//
// The daemons are built from the versions pinned in the repository's tools module, by the
// test command itself, and cached between runs; nothing is installed by hand.
package regtest

import (
	"context"
	"io"
	"path/filepath"

	"github.com/stipend/stipend/internal/toolbuild"
)

// BuildTags are the lnd build tags: the RPC sub-servers Stipend uses (invoicesrpc for hold
// invoices, routerrpc for SendPaymentV2 and TrackPaymentV2) and those lndclient expects, plus
// "integration", which makes lnd's wallet key derivation cheap so that test nodes start in
// seconds. A production lnd is built without "integration".
var BuildTags = []string{"signrpc", "walletrpc", "chainrpc", "invoicesrpc", "routerrpc", "peersrpc", "integration"}

// Binaries are the paths of the built daemons.
type Binaries struct {
	Btcd, Lnd, Lncli string
}

// spec is what the regtest network runs, from the repository's tools module.
var spec = toolbuild.Spec{
	Name:   "regtest",
	Module: "tools",
	Packages: []string{
		"github.com/btcsuite/btcd",
		"github.com/lightningnetwork/lnd/cmd/lnd",
		"github.com/lightningnetwork/lnd/cmd/lncli",
	},
	Tags: BuildTags,
}

// Build returns the daemons for the tools module's pinned versions, building them on first
// use (see toolbuild.Build: a cold build takes minutes, later calls return at once).
func Build(ctx context.Context, logw io.Writer) (*Binaries, error) {
	dir, err := toolbuild.Build(ctx, spec, logw)
	if err != nil {
		return nil, err
	}
	return &Binaries{Btcd: filepath.Join(dir, "btcd"), Lnd: filepath.Join(dir, "lnd"), Lncli: filepath.Join(dir, "lncli")}, nil
}
