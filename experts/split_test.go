package experts_test

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/experts"
)

// TestSplitPartsAlwaysSumToThePrice draws 200,000 random prices, fees and charity shares,
// weighted towards the edges where rounding and overflow go wrong, and checks every split
// against exact arithmetic: the parts sum to the price, none is negative, and each share is
// its rate of its base rounded down.
func TestSplitPartsAlwaysSumToThePrice(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(2026, 11))
	price := func() int64 {
		switch rng.IntN(4) {
		case 0:
			return 1 + rng.Int64N(100)
		case 1:
			return math.MaxInt64 - rng.Int64N(100)
		case 2:
			return 1 + rng.Int64N(1<<40)
		default:
			return 1 + rng.Int64N(math.MaxInt64)
		}
	}
	rate := func() int64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return experts.MaxBPS
		default:
			return rng.Int64N(experts.MaxBPS + 1)
		}
	}
	exact := func(v, bps int64) int64 {
		p := new(big.Int).Mul(big.NewInt(v), big.NewInt(bps))
		return p.Quo(p, big.NewInt(experts.MaxBPS)).Int64()
	}
	for i := range 200_000 {
		p, fee, share := price(), rate(), rate()
		parts, err := experts.Split(p, fee, share)
		if err != nil {
			t.Fatalf("Split(%d, %d, %d): %v", p, fee, share, err)
		}
		sum := new(big.Int).Add(big.NewInt(parts.Fee), big.NewInt(parts.Charity))
		sum.Add(sum, big.NewInt(parts.Earnings))
		if sum.Cmp(big.NewInt(p)) != 0 || parts.Fee < 0 || parts.Charity < 0 || parts.Earnings < 0 {
			t.Fatalf("draw %d: Split(%d, %d, %d) = %+v, which does not sum to the price", i, p, fee, share, parts)
		}
		if want := exact(p, fee); parts.Fee != want {
			t.Fatalf("Split(%d, %d, %d): fee %d, want %d", p, fee, share, parts.Fee, want)
		}
		if want := exact(p-parts.Fee, share); parts.Charity != want {
			t.Fatalf("Split(%d, %d, %d): charity %d, want %d", p, fee, share, parts.Charity, want)
		}
	}
}

// TestSplitRemainderGoesToTheExpert pins the rule for what does not divide evenly.
func TestSplitRemainderGoesToTheExpert(t *testing.T) {
	t.Parallel()
	tests := []struct {
		price, fee, share int64
		want              experts.Parts
	}{
		{price: 1000, fee: 500, share: 2500, want: experts.Parts{Fee: 50, Charity: 237, Earnings: 713}},
		{price: 1, fee: 500, share: 5000, want: experts.Parts{Fee: 0, Charity: 0, Earnings: 1}},
		{price: 3, fee: 3333, share: 5000, want: experts.Parts{Fee: 0, Charity: 1, Earnings: 2}},
		{price: 999, fee: 0, share: 10000, want: experts.Parts{Fee: 0, Charity: 999, Earnings: 0}},
		{price: 999, fee: 10000, share: 10000, want: experts.Parts{Fee: 999, Charity: 0, Earnings: 0}},
	}
	for _, tt := range tests {
		got, err := experts.Split(tt.price, tt.fee, tt.share)
		if err != nil || got != tt.want {
			t.Errorf("Split(%d, %d, %d) = %+v, %v; want %+v", tt.price, tt.fee, tt.share, got, err, tt.want)
		}
	}
}

func TestSplitRefusesBadInput(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ price, fee, share int64 }{
		{0, 250, 0}, {-5, 250, 0}, {100, -1, 0}, {100, 10001, 0}, {100, 250, -1}, {100, 250, 10001},
	} {
		if _, err := experts.Split(tt.price, tt.fee, tt.share); stipend.ErrorCode(err) != stipend.EINVALID {
			t.Errorf("Split(%d, %d, %d): error %v, want invalid", tt.price, tt.fee, tt.share, err)
		}
	}
}
