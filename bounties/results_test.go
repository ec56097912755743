package bounties_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/bounties"
)

const junitSample = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="pkg" tests="3">
    <properties><property name="run_id" value="run-7"/></properties>
    <testcase classname="pkg" name="TestA" time="0.5" contributor="alice"/>
    <testcase classname="pkg" name="TestB" time="1" contributor="bob"><failure message="boom">stack</failure></testcase>
    <testcase classname="pkg" name="TestC" time="0"><skipped/></testcase>
  </testsuite>
</testsuites>`

func TestParseJUnit(t *testing.T) {
	t.Parallel()
	rs, err := bounties.Parse(bounties.FormatJUnit, []byte(junitSample), bounties.Defaults{Contributor: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	want := []bounties.Result{
		{RunID: "run-7", Test: "pkg.TestA", Outcome: bounties.Pass, Contributor: "alice", DurationMS: 500},
		{RunID: "run-7", Test: "pkg.TestB", Outcome: bounties.Fail, Contributor: "bob", DurationMS: 1000},
		{RunID: "run-7", Test: "pkg.TestC", Outcome: bounties.Skip, Contributor: "carol"},
	}
	if fmt.Sprint(rs) != fmt.Sprint(want) {
		t.Fatalf("parsed %+v\nwant   %+v", rs, want)
	}
}

func TestParseJSONAndGoTest(t *testing.T) {
	t.Parallel()
	rs, err := bounties.Parse(bounties.FormatJSON, []byte(`[
		{"run_id":"r1","test":"a","outcome":"passed","contributor":"Alice","duration":1.25,"url":"https://ci.example/1"},
		{"test":"b","outcome":"fail"}]`), bounties.Defaults{RunID: "r2", Contributor: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Contributor != "alice" || rs[0].DurationMS != 1250 || rs[1].RunID != "r2" || rs[1].Contributor != "bob" || rs[1].Outcome != bounties.Fail {
		t.Fatalf("parsed %+v", rs)
	}
	gotest := `{"Action":"run","Package":"example.com/p","Test":"TestX"}
{"Action":"output","Package":"example.com/p","Test":"TestX","Output":"ok\n"}
{"Action":"pass","Package":"example.com/p","Test":"TestX","Elapsed":0.01}
{"Action":"fail","Package":"example.com/p","Test":"TestY/sub","Elapsed":2}
{"Action":"skip","Package":"example.com/p","Test":"TestZ"}
{"Action":"pass","Package":"example.com/p","Elapsed":3}
`
	rs, err = bounties.Parse(bounties.FormatGoTestJSON, []byte(gotest), bounties.Defaults{RunID: "ci-1", Contributor: "dora"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || rs[0].Test != "example.com/p.TestX" || rs[0].Outcome != bounties.Pass || rs[1].Test != "example.com/p.TestY/sub" ||
		rs[1].Outcome != bounties.Fail || rs[2].Outcome != bounties.Skip || rs[1].DurationMS != 2000 {
		t.Fatalf("parsed %+v", rs)
	}
}

func TestParseRefusesMalformedUploads(t *testing.T) {
	t.Parallel()
	d := bounties.Defaults{RunID: "r", Contributor: "alice"}
	tests := []struct {
		name, format, data string
	}{
		{"truncated JUnit", bounties.FormatJUnit, junitSample[:200]},
		{"not XML", bounties.FormatJUnit, "<testsuite><testcase name='a'></testsuite"},
		{"XML without tests", bounties.FormatJUnit, "<report/>"},
		{"two XML roots", bounties.FormatJUnit, `<testsuite><testcase name="a"/></testsuite><testsuite/>`},
		{"JSON object instead of array", bounties.FormatJSON, `{"test":"a"}`},
		{"JSON with an unknown field", bounties.FormatJSON, `[{"test":"a","outcome":"pass","points":3}]`},
		{"JSON with a bad outcome", bounties.FormatJSON, `[{"test":"a","outcome":"maybe"}]`},
		{"JSON with a negative duration", bounties.FormatJSON, `[{"test":"a","outcome":"pass","duration":-1}]`},
		{"JSON cut short", bounties.FormatJSON, `[{"test":"a","outcome":"pa`},
		{"empty JSON array", bounties.FormatJSON, `[]`},
		{"a contributor that is no GitHub login", bounties.FormatJSON, `[{"test":"a","outcome":"pass","contributor":"al ice"}]`},
		{"a URL that is not http", bounties.FormatJSON, `[{"test":"a","outcome":"pass","url":"javascript:alert(1)"}]`},
		{"an empty test name", bounties.FormatJSON, `[{"test":"","outcome":"pass"}]`},
		{"go test output that is not JSON", bounties.FormatGoTestJSON, "ok  \texample.com/p\t0.1s\n"},
		{"go test events without Action", bounties.FormatGoTestJSON, `{"Test":"TestX"}`},
		{"go test output without tests", bounties.FormatGoTestJSON, `{"Action":"pass","Package":"p"}`},
		{"unknown format", "csv", "a,b"},
	}
	for _, tt := range tests {
		_, err := bounties.Parse(tt.format, []byte(tt.data), d)
		if stipend.ErrorCode(err) != stipend.EINVALID {
			t.Errorf("%s: %v, want invalid", tt.name, err)
		}
	}
	// Without a run id, JUnit and go test output cannot say which run a result belongs to.
	if _, err := bounties.Parse(bounties.FormatGoTestJSON, []byte(`{"Action":"pass","Test":"T"}`), bounties.Defaults{Contributor: "a"}); stipend.ErrorCode(err) != stipend.EINVALID {
		t.Fatalf("go test output without a run id: %v", err)
	}
}

func TestFeePerUnitRoundsUpAndCostChecksOverflow(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ reward, bps, want int64 }{
		{50_000, 250, 1250}, {1, 250, 1}, {3, 100, 1}, {10_000, 100, 100}, {10_001, 100, 101}, {5, 0, 0}, {1 << 62, 10_000, 1 << 62},
	} {
		if got, err := bounties.FeePerUnit(tt.reward, tt.bps); err != nil || got != tt.want {
			t.Errorf("FeePerUnit(%d, %d) = %d, %v; want %d", tt.reward, tt.bps, got, err, tt.want)
		}
	}
	if _, _, err := bounties.Cost(1<<62, 1<<62, 2); stipend.ErrorCode(err) != stipend.EINVALID {
		t.Fatalf("an overflowing cost: %v", err)
	}
	if r, f, err := bounties.Cost(50_000, 1250, 100); err != nil || r != 5_000_000 || f != 125_000 {
		t.Fatalf("Cost = %d, %d, %v", r, f, err)
	}
}

// The parsers are fed arbitrary bytes: they never panic, refuse with EINVALID, and whatever
// they accept is a bounded list of valid results.
func fuzzParser(f *testing.F, format string, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := bounties.Parse(format, data, bounties.Defaults{RunID: "run", Contributor: "alice"})
		if err != nil {
			if stipend.ErrorCode(err) != stipend.EINVALID {
				t.Fatalf("error code %q: %v", stipend.ErrorCode(err), err)
			}
			return
		}
		if len(rs) == 0 || len(rs) > bounties.MaxResults {
			t.Fatalf("%d results accepted", len(rs))
		}
		for _, r := range rs {
			if r.RunID == "" || r.Test == "" || !bounties.ValidLogin(r.Contributor) || r.Contributor != strings.ToLower(r.Contributor) ||
				(r.Outcome != bounties.Pass && r.Outcome != bounties.Fail && r.Outcome != bounties.Skip) || r.DurationMS < 0 {
				t.Fatalf("accepted an invalid result %+v", r)
			}
		}
	})
}

func FuzzParseJUnit(f *testing.F) {
	fuzzParser(f, bounties.FormatJUnit, junitSample, `<testsuite><testcase name="a"/></testsuite>`, "<testsuite>", "")
}

func FuzzParseJSON(f *testing.F) {
	fuzzParser(f, bounties.FormatJSON, `[{"run_id":"r","test":"t","outcome":"pass","contributor":"a","duration":1}]`, `[]`, `[{}]`, `{`)
}

func FuzzParseGoTestJSON(f *testing.F) {
	fuzzParser(f, bounties.FormatGoTestJSON, `{"Action":"pass","Package":"p","Test":"T","Elapsed":0.1}`, "{}", "\n\n", `{"Action":"run"}`)
}
