package ledger

import (
	"math"
	"math/bits"
	"strconv"
	"strings"

	"github.com/stipend/stipend"
)

// Amount is a signed count of an asset's minor unit. It is never a float.
type Amount struct {
	Value int64
	Asset Asset
}

// Sat returns an amount of n satoshis.
func Sat(n int64) Amount { return Amount{Value: n * 1000, Asset: BTC} }

// Msat returns an amount of n millisatoshis.
func Msat(n int64) Amount { return Amount{Value: n, Asset: BTC} }

// Cents returns an amount of n cents of a fiat asset.
func Cents(n int64, a Asset) Amount { return Amount{Value: n, Asset: a} }

// Add returns a+b. Returns EINVALID when the assets differ or the sum overflows.
func (a Amount) Add(b Amount) (Amount, error) {
	if a.Asset != b.Asset {
		return Amount{}, stipend.Errorf(stipend.EINVALID, "cannot add %s to %s", b.Asset, a.Asset)
	}
	s, ok := addInt64(a.Value, b.Value)
	if !ok || s == math.MinInt64 {
		// The most negative int64 is refused too: it has no negation (see Neg), and no
		// amount that ParseAmount or a transaction accepts holds it.
		return Amount{}, stipend.Errorf(stipend.EINVALID, "amount overflows")
	}
	return Amount{Value: s, Asset: a.Asset}, nil
}

// Neg returns -a. The most negative int64 has no negation; callers never hold one because
// every amount that enters the system is checked to be positive.
func (a Amount) Neg() Amount { return Amount{Value: -a.Value, Asset: a.Asset} }

// IsPositive reports whether a is greater than zero.
func (a Amount) IsPositive() bool { return a.Value > 0 }

// CheckPositive returns EINVALID naming field unless a is a known asset and greater than zero.
func (a Amount) CheckPositive(field string) error {
	if !a.Asset.Valid() {
		return stipend.Errorf(stipend.EINVALID, "%s: unknown asset %q: use one of BTC, USD, EUR", field, clip(string(a.Asset)))
	}
	if a.Value <= 0 {
		return stipend.Errorf(stipend.EINVALID, "%s: must be greater than zero", field)
	}
	return nil
}

// addInt64 adds without wrapping around; ok is false on overflow.
func addInt64(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}

// ParseAmount reads an amount written as a decimal number and a unit, such as "2100 sat",
// "0.50 USD", "1.5 EUR", "0.001 BTC" or "1500 msat". The result is exact: a number with more
// decimal places than the asset's minor unit allows is refused, never rounded. The number and
// the unit are separated by one ASCII space or nothing ("2100sat"); any other whitespace,
// before, between or after them, is refused rather than guessed at.
//
// Returns EINVALID for malformed text, an unknown unit, too many decimals or an overflow.
func ParseAmount(s string) (Amount, error) {
	// Split where the number ends: the number is made of ASCII digits, '.' and '-', which
	// parseDecimal checks further.
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != '-' })
	if i <= 0 {
		return Amount{}, stipend.Errorf(stipend.EINVALID, "amount %q needs a number and a unit, like \"2100 sat\" or \"0.50 USD\"", clip(s))
	}
	num, unitName := s[:i], strings.TrimPrefix(s[i:], " ")
	if unitName == "" {
		return Amount{}, stipend.Errorf(stipend.EINVALID, "amount %q needs a number and a unit, like \"2100 sat\" or \"0.50 USD\"", clip(s))
	}
	asset, u, ok := unitByName(unitName)
	if !ok {
		return Amount{}, stipend.Errorf(stipend.EINVALID, "amount %q: unknown unit %q: use sat, msat, BTC, USD or EUR", clip(s), clip(unitName))
	}
	v, err := parseDecimal(num, u.exp)
	if err != nil {
		return Amount{}, stipend.Errorf(stipend.EINVALID, "amount %q: %s", clip(s), err.Error())
	}
	return Amount{Value: v, Asset: asset}, nil
}

type parseError string

func (e parseError) Error() string { return string(e) }

// parseDecimal returns num × 10^exp as an exact int64.
func parseDecimal(num string, exp int) (int64, error) {
	neg := false
	if strings.HasPrefix(num, "-") {
		neg, num = true, num[1:]
	}
	whole, frac, hasPoint := strings.Cut(num, ".")
	if whole == "" || (hasPoint && frac == "") || !allDigits(whole) || !allDigits(frac) {
		return 0, parseError("not a decimal number")
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > exp {
		return 0, parseError("too many decimal places for this unit (at most " + strconv.Itoa(exp) + ")")
	}
	digits := strings.TrimLeft(whole+frac+strings.Repeat("0", exp-len(frac)), "0")
	if digits == "" {
		return 0, nil
	}
	if len(digits) > 19 {
		return 0, parseError("out of range")
	}
	u, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || u > math.MaxInt64 {
		return 0, parseError("out of range")
	}
	if neg {
		return -int64(u), nil
	}
	return int64(u), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats a in the unit people read: "2100 sat" (with up to three decimals for
// millisatoshis), "0.50 USD", "1.50 EUR". ParseAmount(a.String()) == a for every amount but
// the most negative int64, which ParseAmount refuses as out of range.
func (a Amount) String() string {
	info, ok := assetInfos[a.Asset]
	if !ok {
		return strconv.FormatInt(a.Value, 10) + " " + string(a.Asset)
	}
	u := info.units[0]
	sign := ""
	mag := uint64(a.Value)
	if a.Value < 0 {
		sign, mag = "-", uint64(-(a.Value+1))+1
	}
	pow := uint64(1)
	for i := 0; i < u.exp; i++ {
		pow *= 10
	}
	whole, frac := mag/pow, mag%pow
	name := strings.ToUpper(u.name)
	if a.Asset == BTC {
		name = u.name
	}
	out := sign + strconv.FormatUint(whole, 10)
	if u.exp > 0 {
		f := strconv.FormatUint(frac, 10)
		f = strings.Repeat("0", u.exp-len(f)) + f
		if a.Asset == BTC {
			// Millisatoshis are shown only when there are any.
			f = strings.TrimRight(f, "0")
		}
		if f != "" {
			out += "." + f
		}
	}
	return out + " " + name
}

// MaxBPS is 100 % in basis points.
const MaxBPS = 10_000

// ShareBPS returns v × bps / MaxBPS rounded down, for v ≥ 0 and 0 ≤ bps ≤ MaxBPS, without
// overflow: the product is taken in 128 bits, and the result is at most v. Rounding down means
// a fee or a share is never a fraction of a minor unit that was not there.
func ShareBPS(v, bps int64) int64 {
	hi, lo := bits.Mul64(uint64(v), uint64(bps))
	q, _ := bits.Div64(hi, lo, MaxBPS)
	return int64(q)
}
