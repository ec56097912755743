package experts

import (
	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
)

// MaxBPS is 100 % in basis points.
const MaxBPS = ledger.MaxBPS

// Parts is how the price of an answered question is shared out.
type Parts struct {
	Fee      int64 // the platform's fee
	Charity  int64 // the charity's share of the expert's earnings
	Earnings int64 // what the expert keeps
}

// Split shares price out into the platform fee (feeBPS of the price), the charity's share
// (shareBPS of what is left after the fee) and the expert's earnings. Both shares are rounded
// down to the minor unit and the expert receives the remainder, so the parts always sum to the
// price exactly and neither the platform nor the charity is ever given a fraction that was not
// there. Returns EINVALID for a price that is not positive or a rate outside 0..MaxBPS.
func Split(price, feeBPS, shareBPS int64) (Parts, error) {
	if price <= 0 {
		return Parts{}, stipend.Errorf(stipend.EINVALID, "price: must be more than zero")
	}
	if feeBPS < 0 || feeBPS > MaxBPS {
		return Parts{}, stipend.Errorf(stipend.EINVALID, "fee: must be between 0 and %d basis points", MaxBPS)
	}
	if shareBPS < 0 || shareBPS > MaxBPS {
		return Parts{}, stipend.Errorf(stipend.EINVALID, "charity share: must be between 0 %% and 100 %%")
	}
	fee := ledger.ShareBPS(price, feeBPS)
	charity := ledger.ShareBPS(price-fee, shareBPS)
	return Parts{Fee: fee, Charity: charity, Earnings: price - fee - charity}, nil
}
