// Package ledger is Stipend's double-entry ledger: assets and amounts, accounts named by
// address, transactions whose entries sum to zero per asset, holds, and the Store interface
// that a database adapter implements atomically.
package ledger

import (
	"strings"

	"github.com/stipend/stipend"
)

// Asset names a currency. Amounts of an asset are counted in its minor unit: millisatoshis
// for BTC, cents for USD and EUR.
type Asset string

// The assets Stipend moves.
const (
	BTC Asset = "BTC"
	USD Asset = "USD"
	EUR Asset = "EUR"
)

// assets lists every supported asset in a stable order.
var assets = [...]Asset{BTC, USD, EUR}

// Assets returns every supported asset in a stable order.
func Assets() []Asset { return assets[:len(assets):len(assets)] }

// unit is one way of writing an amount of an asset in text: its name and how many minor units
// one of it holds, as a power of ten.
type unit struct {
	name string
	exp  int
}

type assetInfo struct {
	minor string // the name of the minor unit that amounts count
	// units are the names accepted in text, the first being the one Format writes.
	units []unit
}

var assetInfos = map[Asset]assetInfo{
	BTC: {minor: "msat", units: []unit{{"sat", 3}, {"sats", 3}, {"msat", 0}, {"msats", 0}, {"btc", 11}}},
	USD: {minor: "cent", units: []unit{{"usd", 2}}},
	EUR: {minor: "cent", units: []unit{{"eur", 2}}},
}

// ParseAsset returns the asset named by s (case-sensitive, as written in the API).
//
// Returns EINVALID for an unknown asset.
func ParseAsset(s string) (Asset, error) {
	a := Asset(s)
	if _, ok := assetInfos[a]; !ok {
		return "", stipend.Errorf(stipend.EINVALID, "unknown asset %q: use one of BTC, USD, EUR", clip(s))
	}
	return a, nil
}

// Valid reports whether a is a supported asset.
func (a Asset) Valid() bool {
	_, ok := assetInfos[a]
	return ok
}

// MinorUnit is the name of the unit that amounts of a count: "msat" or "cent".
func (a Asset) MinorUnit() string { return assetInfos[a].minor }

// unitByName finds the asset and unit that a text unit name stands for.
func unitByName(name string) (Asset, unit, bool) {
	name = strings.ToLower(name)
	for _, a := range assets {
		for _, u := range assetInfos[a].units {
			if u.name == name {
				return a, u, true
			}
		}
	}
	return "", unit{}, false
}

// clip shortens untrusted text before it is quoted back in an error message.
func clip(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
