package ledger_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/ledger"
)

// validAmounts are inputs ParseAmount must accept, with the exact amount each one means. They
// also seed FuzzParseAmount.
var validAmounts = []struct {
	in   string
	want ledger.Amount
}{
	// Satoshis are the unit people write; amounts count millisatoshis.
	{"2100 sat", ledger.Msat(2_100_000)},
	{"2100sat", ledger.Msat(2_100_000)},
	{"2100 sats", ledger.Msat(2_100_000)},
	{"1.234 sat", ledger.Msat(1234)},
	{"1.5 sat", ledger.Msat(1500)},
	{"0.001 sat", ledger.Msat(1)},
	{"1500 msat", ledger.Msat(1500)},
	{"1500msat", ledger.Msat(1500)},
	{"1500 msats", ledger.Msat(1500)},
	{"1 BTC", ledger.Msat(100_000_000_000)},
	{"0.00000001 BTC", ledger.Msat(1000)},
	{"0.00000000001 BTC", ledger.Msat(1)},
	{"0 sat", ledger.Msat(0)},
	{"-1.5 sat", ledger.Msat(-1500)},

	// Fiat amounts count cents.
	{"0.50 USD", ledger.Cents(50, ledger.USD)},
	{"0.5 USD", ledger.Cents(50, ledger.USD)},
	{"1.5 EUR", ledger.Cents(150, ledger.EUR)},
	{"12 EUR", ledger.Cents(1200, ledger.EUR)},
	{"12EUR", ledger.Cents(1200, ledger.EUR)},
	{"-0.50 USD", ledger.Cents(-50, ledger.USD)},
	{"0.00 USD", ledger.Cents(0, ledger.USD)},

	// Zeros that change nothing are exact, so they are accepted rather than refused.
	{"007 USD", ledger.Cents(700, ledger.USD)},
	{"1.50000 USD", ledger.Cents(150, ledger.USD)},
	{"1.230 sat", ledger.Msat(1230)},

	// Unit names are case-insensitive.
	{"1 usd", ledger.Cents(100, ledger.USD)},
	{"1 Usd", ledger.Cents(100, ledger.USD)},
	{"1 eur", ledger.Cents(100, ledger.EUR)},
	{"1 btc", ledger.Msat(100_000_000_000)},
	{"1 Btc", ledger.Msat(100_000_000_000)},
	{"2 SAT", ledger.Msat(2000)},
	{"2 SATS", ledger.Msat(2000)},
	{"2 MSat", ledger.Msat(2)},

	// The extremes of int64 in every unit.
	{"9223372036854775807 msat", ledger.Msat(math.MaxInt64)},
	{"9223372036854775.807 sat", ledger.Msat(math.MaxInt64)},
	{"92233720.36854775807 BTC", ledger.Msat(math.MaxInt64)},
	{"92233720368547758.07 USD", ledger.Cents(math.MaxInt64, ledger.USD)},
	{"92233720368547758.07 EUR", ledger.Cents(math.MaxInt64, ledger.EUR)},
	{"-9223372036854775807 msat", ledger.Msat(math.MinInt64 + 1)},
	{"-92233720368547758.07 USD", ledger.Cents(math.MinInt64+1, ledger.USD)},
}

// invalidAmounts are inputs ParseAmount must refuse with EINVALID. They also seed
// FuzzParseAmount.
var invalidAmounts = []struct {
	name string
	in   string
}{
	{"empty", ""},
	{"only a space", " "},
	{"no unit", "2100"},
	{"no unit after a space", "2100 "},
	{"no number", "sat"},
	{"no number before a space", " sat"},
	{"unknown unit", "2100 xyz"},
	{"unit spelled out", "2100 satoshi"},
	{"currency symbol", "$5"},
	{"currency symbol after", "5 $"},
	{"unit before number", "USD 5"},
	{"Cyrillic s in sat", "2100 \u0455at"},
	{"fullwidth unit", "2100 \uff53\uff41\uff54"},
	{"too many decimals for USD", "0.001 USD"},
	{"too many decimals for EUR", "1.005 EUR"},
	{"too many decimals for sat", "1.2345 sat"},
	{"any decimal for msat", "0.1 msat"},
	{"too many decimals for BTC", "0.000000000001 BTC"},
	{"exponent", "1e3 sat"},
	{"upper-case exponent", "1E3 sat"},
	{"exponent without space", "1e3sat"},
	{"thousands comma", "1,000 sat"},
	{"decimal comma", "0,50 USD"},
	{"underscore separator", "1_000 sat"},
	{"hexadecimal", "0x10 sat"},
	{"explicit plus", "+5 USD"},
	{"leading point", ".5 USD"},
	{"trailing point", "5. USD"},
	{"negative leading point", "-.5 USD"},
	{"double minus", "--5 USD"},
	{"minus alone", "- USD"},
	{"minus then space", "- 5 USD"},
	{"trailing minus", "5- USD"},
	{"minus inside", "5-3 sat"},
	{"two points", "1.2.3 USD"},
	{"NaN", "NaN USD"},
	{"infinity", "Inf USD"},
	{"Arabic-Indic digits", "\u0661\u0662 sat"},
	{"fullwidth digits", "\uff11\uff12 sat"},
	{"superscript digit", "\u00b2 sat"},
	{"overflow in cents", "92233720368547758.08 USD"},
	{"overflow in msat", "9223372036854775808 msat"},
	{"overflow in sat", "9223372036854775.808 sat"},
	{"overflow in BTC", "100000000 BTC"},
	{"far overflow", "99999999999999999999999999 sat"},
	// The most negative int64 has no positive counterpart, so no amount may hold it.
	{"most negative int64", "-9223372036854775808 msat"},
	{"most negative int64 in cents", "-92233720368547758.08 USD"},
	{"leading space", " 2100 sat"},
	{"trailing space", "2100 sat "},
	{"trailing newline", "2100 sat\n"},
	{"two spaces", "2100  sat"},
	{"tab", "2100\tsat"},
	{"newline", "2100\nsat"},
	{"no-break space", "2100\u00a0sat"},
	{"em space", "2100\u2003sat"},
	{"ideographic space", "2100\u3000sat"},
	{"zero-width space", "2100\u200bsat"},
	{"space inside number", "2 100 sat"},
	{"three fields", "1 2 sat"},
	{"unit twice", "2100 sat sat"},
	{"two units", "2100 sat USD"},
	{"NUL byte", "2100 sat\x00"},
	{"invalid UTF-8", "2100 \xffsat"},
}

func TestParseAmountAcceptsExactDecimalAmounts(t *testing.T) {
	t.Parallel()
	for _, tc := range validAmounts {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ledger.ParseAmount(tc.in)
			wantCode(t, err, "")
			if got != tc.want {
				t.Fatalf("ParseAmount(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseAmountRefusesMalformedInputWithEINVALID(t *testing.T) {
	t.Parallel()
	for _, tc := range invalidAmounts {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ledger.ParseAmount(tc.in)
			wantCode(t, err, stipend.EINVALID)
			if got != (ledger.Amount{}) {
				t.Errorf("ParseAmount(%q) returned %#v with its error, want the zero Amount", tc.in, got)
			}
			// The message goes to a client, so it must be the one written for them.
			if msg := stipend.ErrorMessage(err); !strings.HasPrefix(msg, "amount") {
				t.Errorf("message %q does not explain which input was wrong", msg)
			}
		})
	}
}

func TestParseAmountClipsLongInputInItsErrorMessage(t *testing.T) {
	t.Parallel()
	// Untrusted text is echoed back in error messages, so a huge input must not make a huge
	// message.
	for _, in := range []string{
		strings.Repeat("9", 100_000) + " sat",
		"1 " + strings.Repeat("x", 100_000),
		strings.Repeat("1 ", 50_000),
	} {
		_, err := ledger.ParseAmount(in)
		wantCode(t, err, stipend.EINVALID)
		if msg := stipend.ErrorMessage(err); len(msg) > 300 {
			t.Errorf("error message is %d bytes long for a %d-byte input", len(msg), len(in))
		}
	}
}

func TestAmountStringWritesTheReadableUnit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a    ledger.Amount
		want string
	}{
		{ledger.Sat(2100), "2100 sat"},
		{ledger.Msat(2_100_000), "2100 sat"},
		{ledger.Msat(1234), "1.234 sat"},
		// Millisatoshis are shown only as far as they are not zero.
		{ledger.Msat(1500), "1.5 sat"},
		{ledger.Msat(1), "0.001 sat"},
		{ledger.Msat(-1), "-0.001 sat"},
		{ledger.Msat(0), "0 sat"},
		{ledger.Msat(100_000_000_000), "100000000 sat"},
		// Cents are always shown with two decimals.
		{ledger.Cents(50, ledger.USD), "0.50 USD"},
		{ledger.Cents(150, ledger.EUR), "1.50 EUR"},
		{ledger.Cents(100, ledger.USD), "1.00 USD"},
		{ledger.Cents(-5, ledger.USD), "-0.05 USD"},
		{ledger.Cents(0, ledger.EUR), "0.00 EUR"},
		{ledger.Msat(math.MaxInt64), "9223372036854775.807 sat"},
		{ledger.Msat(math.MinInt64 + 1), "-9223372036854775.807 sat"},
		{ledger.Msat(math.MinInt64), "-9223372036854775.808 sat"},
		{ledger.Cents(math.MaxInt64, ledger.USD), "92233720368547758.07 USD"},
		{ledger.Cents(math.MinInt64, ledger.EUR), "-92233720368547758.08 EUR"},
		// An asset Stipend does not know is still written, plainly, rather than hidden.
		{ledger.Amount{Value: 5, Asset: "XYZ"}, "5 XYZ"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			if got := tc.a.String(); got != tc.want {
				t.Fatalf("%#v.String() = %q, want %q", tc.a, got, tc.want)
			}
		})
	}
}

// TestAmountStringParsesBackToTheSameAmount is a property test: String is the inverse of
// ParseAmount for every amount that can exist (every int64 but the most negative, which
// ParseAmount refuses as out of range), in every asset.
func TestAmountStringParsesBackToTheSameAmount(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0x5715e4d))

	values := []int64{0, 1, -1, 9, 10, 99, 100, 101, 999, 1000, 1001,
		math.MaxInt64, math.MaxInt64 - 1, math.MinInt64 + 1, math.MinInt64 + 2,
		100_000_000_000, 2_100_000_000_000_000_000 / 1000}
	for range 20_000 {
		// A uniform int64 nearly always has 19 digits; shifting by a random amount covers
		// every magnitude, where rounding mistakes near a unit boundary hide.
		v := int64(r.Uint64()) >> r.IntN(64)
		if v == math.MinInt64 {
			continue
		}
		values = append(values, v)
	}
	for _, asset := range ledger.Assets() {
		for _, v := range values {
			a := ledger.Amount{Value: v, Asset: asset}
			s := a.String()
			got, err := ledger.ParseAmount(s)
			if err != nil {
				t.Fatalf("ParseAmount(%q), the String of %d %s: %v", s, v, asset, err)
			}
			if got != a {
				t.Fatalf("ParseAmount(%q) = %#v, want %#v", s, got, a)
			}
		}
	}
}

func TestSatMsatAndCentsCountMinorUnits(t *testing.T) {
	t.Parallel()
	if got := ledger.Sat(21); got != (ledger.Amount{Value: 21_000, Asset: ledger.BTC}) {
		t.Errorf("Sat(21) = %#v, want 21000 msat", got)
	}
	if got := ledger.Msat(21); got != (ledger.Amount{Value: 21, Asset: ledger.BTC}) {
		t.Errorf("Msat(21) = %#v, want 21 msat", got)
	}
	if got := ledger.Cents(21, ledger.EUR); got != (ledger.Amount{Value: 21, Asset: ledger.EUR}) {
		t.Errorf("Cents(21, EUR) = %#v, want 21 EUR cents", got)
	}
}

func TestAmountAdd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		a, b     ledger.Amount
		want     ledger.Amount
		wantCode string
	}{
		{"same asset", ledger.Sat(1), ledger.Msat(1), ledger.Msat(1001), ""},
		{"negative", ledger.Cents(5, ledger.USD), ledger.Cents(-7, ledger.USD), ledger.Cents(-2, ledger.USD), ""},
		{"to zero", ledger.Cents(math.MaxInt64, ledger.EUR), ledger.Cents(math.MinInt64+1, ledger.EUR), ledger.Cents(0, ledger.EUR), ""},
		{"up to the maximum", ledger.Msat(math.MaxInt64 - 1), ledger.Msat(1), ledger.Msat(math.MaxInt64), ""},
		{"down to the most negative that exists", ledger.Msat(math.MinInt64 + 2), ledger.Msat(-1), ledger.Msat(math.MinInt64 + 1), ""},
		{"BTC and USD", ledger.Sat(1), ledger.Cents(1, ledger.USD), ledger.Amount{}, stipend.EINVALID},
		{"USD and EUR", ledger.Cents(1, ledger.USD), ledger.Cents(1, ledger.EUR), ledger.Amount{}, stipend.EINVALID},
		{"zero amounts of different assets", ledger.Cents(0, ledger.USD), ledger.Cents(0, ledger.EUR), ledger.Amount{}, stipend.EINVALID},
		{"overflow", ledger.Msat(math.MaxInt64), ledger.Msat(1), ledger.Amount{}, stipend.EINVALID},
		{"overflow of two large amounts", ledger.Msat(math.MaxInt64 / 2), ledger.Msat(math.MaxInt64/2 + 2), ledger.Amount{}, stipend.EINVALID},
		{"negative overflow", ledger.Msat(math.MinInt64 + 1), ledger.Msat(-2), ledger.Amount{}, stipend.EINVALID},
		// The most negative int64 cannot be negated, so Add must not produce it: Neg would
		// turn a debit of it into a debit again.
		{"reaching the most negative int64", ledger.Msat(math.MinInt64 + 1), ledger.Msat(-1), ledger.Amount{}, stipend.EINVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.a.Add(tc.b)
			wantCode(t, err, tc.wantCode)
			if got != tc.want {
				t.Fatalf("%v + %v = %#v, want %#v", tc.a, tc.b, got, tc.want)
			}
			// Addition is commutative, including in what it refuses.
			rev, err := tc.b.Add(tc.a)
			wantCode(t, err, tc.wantCode)
			if rev != tc.want {
				t.Fatalf("%v + %v = %#v, want %#v", tc.b, tc.a, rev, tc.want)
			}
		})
	}
}

func TestAmountNegAndIsPositive(t *testing.T) {
	t.Parallel()
	if got := ledger.Sat(5).Neg(); got != ledger.Msat(-5000) {
		t.Errorf("Sat(5).Neg() = %#v, want -5000 msat", got)
	}
	if got := ledger.Cents(-5, ledger.USD).Neg(); got != ledger.Cents(5, ledger.USD) {
		t.Errorf("Cents(-5).Neg() = %#v, want 5 cents", got)
	}
	for v, want := range map[int64]bool{1: true, math.MaxInt64: true, 0: false, -1: false, math.MinInt64: false} {
		if got := ledger.Msat(v).IsPositive(); got != want {
			t.Errorf("Msat(%d).IsPositive() = %v, want %v", v, got, want)
		}
	}
}

func TestAmountCheckPositive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		a        ledger.Amount
		wantCode string
	}{
		{"one msat", ledger.Msat(1), ""},
		{"one cent", ledger.Cents(1, ledger.EUR), ""},
		{"maximum", ledger.Cents(math.MaxInt64, ledger.USD), ""},
		{"zero", ledger.Msat(0), stipend.EINVALID},
		{"negative", ledger.Cents(-1, ledger.USD), stipend.EINVALID},
		{"most negative", ledger.Msat(math.MinInt64), stipend.EINVALID},
		{"no asset", ledger.Amount{Value: 1}, stipend.EINVALID},
		{"lower-case asset", ledger.Amount{Value: 1, Asset: "btc"}, stipend.EINVALID},
		{"unknown asset", ledger.Amount{Value: 1, Asset: "XBT"}, stipend.EINVALID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.a.CheckPositive("reward")
			wantCode(t, err, tc.wantCode)
			// A client needs to know which field was wrong.
			if err != nil && !strings.HasPrefix(stipend.ErrorMessage(err), "reward:") {
				t.Errorf("message %q does not name the field", stipend.ErrorMessage(err))
			}
		})
	}
}

func TestCheckPositiveClipsAnUnknownAssetInItsMessage(t *testing.T) {
	t.Parallel()
	err := ledger.Amount{Value: 1, Asset: ledger.Asset(strings.Repeat("X", 10_000))}.CheckPositive("amount")
	wantCode(t, err, stipend.EINVALID)
	if msg := stipend.ErrorMessage(err); len(msg) > 200 {
		t.Errorf("message is %d bytes long", len(msg))
	}
}

func TestParseAssetIsCaseSensitive(t *testing.T) {
	t.Parallel()
	for _, a := range ledger.Assets() {
		got, err := ledger.ParseAsset(string(a))
		wantCode(t, err, "")
		if got != a {
			t.Errorf("ParseAsset(%q) = %q", a, got)
		}
		if !a.Valid() {
			t.Errorf("%q.Valid() = false", a)
		}
	}
	// The API names assets exactly; anything else is refused rather than guessed at.
	for _, s := range []string{"", "btc", "Usd", "XBT", "BTC ", " BTC", "sat", "msat", "ＢＴＣ"} {
		got, err := ledger.ParseAsset(s)
		wantCode(t, err, stipend.EINVALID)
		if got != "" {
			t.Errorf("ParseAsset(%q) = %q with an error, want \"\"", s, got)
		}
		if ledger.Asset(s).Valid() {
			t.Errorf("Asset(%q).Valid() = true", s)
		}
	}
}

func TestAssetMinorUnit(t *testing.T) {
	t.Parallel()
	for a, want := range map[ledger.Asset]string{ledger.BTC: "msat", ledger.USD: "cent", ledger.EUR: "cent", "XYZ": ""} {
		if got := a.MinorUnit(); got != want {
			t.Errorf("%q.MinorUnit() = %q, want %q", a, got, want)
		}
	}
}

// FuzzParseAmount checks that ParseAmount never panics, refuses only with EINVALID, and that
// whatever it accepts is written by String in a form that parses back to the same amount.
func FuzzParseAmount(f *testing.F) {
	for _, tc := range validAmounts {
		f.Add(tc.in)
	}
	for _, tc := range invalidAmounts {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ledger.ParseAmount(s)
		if err != nil {
			if code := stipend.ErrorCode(err); code != stipend.EINVALID {
				t.Fatalf("ParseAmount(%q): code %q, want %q", s, code, stipend.EINVALID)
			}
			return
		}
		if !a.Asset.Valid() {
			t.Fatalf("ParseAmount(%q) = %#v: unknown asset", s, a)
		}
		if a.Value == math.MinInt64 {
			t.Fatalf("ParseAmount(%q) = the most negative int64, which cannot be negated", s)
		}
		out := a.String()
		back, err := ledger.ParseAmount(out)
		if err != nil {
			t.Fatalf("ParseAmount(%q) = %#v, whose String %q does not parse: %v", s, a, out, err)
		}
		if back != a {
			t.Fatalf("ParseAmount(%q) = %#v, but its String %q parses to %#v", s, a, out, back)
		}
		if again := back.String(); again != out {
			t.Fatalf("String is not canonical: %q, then %q", out, again)
		}
	})
}
