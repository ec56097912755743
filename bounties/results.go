package bounties

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"time"

	junit "github.com/joshdk/go-junit"

	"github.com/stipend/stipend"
)

// Outcomes of a test.
const (
	Pass = "pass"
	Fail = "fail"
	Skip = "skip"
)

// Result is one test result reported by CI: the test of a run, its outcome, and the GitHub
// login of the contributor it pays.
type Result struct {
	RunID       string
	Test        string
	Outcome     string
	Contributor string
	DurationMS  int64
	URL         string
}

// Statuses of a reported result.
const (
	StatusPaid       = "paid"
	StatusDuplicate  = "duplicate"
	StatusFailing    = "failing"
	StatusOverBudget = "over_budget"
	StatusRejected   = "rejected"
)

// Verdict is what became of one reported result.
type Verdict struct {
	Result
	Status string
	Reason string
	// Paid is the reward paid, and To where: an account id, or "github:<login>" for a
	// contributor whose login is not linked yet.
	Paid int64
	To   string
}

// Defaults fill what a format cannot carry itself: JUnit and go test output have no run id,
// and say nothing of contributors.
type Defaults struct {
	RunID       string
	Contributor string
}

// Upload limits.
const (
	MaxResults     = 100_000
	maxTestName    = 1000
	maxRunID       = 200
	maxResultURL   = 2000
	maxDurationSec = 7 * 24 * 3600
)

// Formats of a results upload.
const (
	FormatJSON       = "json"
	FormatJUnit      = "junit"
	FormatGoTestJSON = "go-test-json"
)

// Parse reads results in one of the formats. Returns EINVALID, saying what is wrong and where.
func Parse(format string, data []byte, d Defaults) ([]Result, error) {
	var rs []Result
	var err error
	switch format {
	case FormatJSON:
		rs, err = ParseJSON(data, d)
	case FormatJUnit:
		rs, err = ParseJUnit(data, d)
	case FormatGoTestJSON:
		rs, err = ParseGoTestJSON(data, d)
	default:
		return nil, stipend.Errorf(stipend.EINVALID, "format: must be json, junit or go-test-json")
	}
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, stipend.Errorf(stipend.EINVALID, "the upload holds no test results")
	}
	if len(rs) > MaxResults {
		return nil, stipend.Errorf(stipend.EINVALID, "the upload holds %d results; at most %d", len(rs), MaxResults)
	}
	for i := range rs {
		if err := rs[i].check(); err != nil {
			return nil, stipend.Errorf(stipend.EINVALID, "result %d (%.60q): %s", i+1, rs[i].Test, stipend.ErrorMessage(err))
		}
	}
	return rs, nil
}

// check validates a result and normalises its contributor's login.
func (r *Result) check() error {
	if r.RunID == "" {
		return stipend.Errorf(stipend.EINVALID, "run_id: required (for JUnit and go test output, pass run_id with the upload)")
	}
	if err := stipend.CheckText("run_id", r.RunID, maxRunID, false); err != nil {
		return err
	}
	if err := stipend.CheckText("test", r.Test, maxTestName, false); err != nil {
		return err
	}
	switch r.Outcome {
	case Pass, Fail, Skip:
	default:
		return stipend.Errorf(stipend.EINVALID, "outcome: must be pass, fail or skip")
	}
	if !ValidLogin(r.Contributor) {
		return stipend.Errorf(stipend.EINVALID, "contributor: must be a GitHub login (for JUnit and go test output, pass contributor with the upload or per test)")
	}
	r.Contributor = strings.ToLower(r.Contributor)
	if r.DurationMS < 0 || r.DurationMS > maxDurationSec*1000 {
		return stipend.Errorf(stipend.EINVALID, "duration: out of range")
	}
	if r.URL != "" {
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || len(r.URL) > maxResultURL {
			return stipend.Errorf(stipend.EINVALID, "url: must be an http(s) URL")
		}
	}
	return nil
}

// outcome maps the words tools use to the three outcomes.
func outcome(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "pass", "passed", "success", "ok":
		return Pass, true
	case "fail", "failed", "failure", "error", "errored":
		return Fail, true
	case "skip", "skipped":
		return Skip, true
	}
	return "", false
}

// jsonResult is one element of the JSON format.
type jsonResult struct {
	RunID       string          `json:"run_id"`
	Test        string          `json:"test"`
	Outcome     string          `json:"outcome"`
	Contributor string          `json:"contributor"`
	Duration    json.RawMessage `json:"duration"`
	URL         string          `json:"url"`
}

// ParseJSON reads a JSON array of {run_id, test, outcome, contributor, duration, url}, where
// duration is in seconds. Missing run ids and contributors take the defaults.
func ParseJSON(data []byte, d Defaults) ([]Result, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var in []jsonResult
	if err := dec.Decode(&in); err != nil {
		return nil, stipend.Errorf(stipend.EINVALID, "not a JSON array of results: %s", jsonProblem(err))
	}
	if dec.More() {
		return nil, stipend.Errorf(stipend.EINVALID, "unexpected data after the JSON array")
	}
	out := make([]Result, 0, len(in))
	for i, r := range in {
		o, ok := outcome(r.Outcome)
		if !ok {
			return nil, stipend.Errorf(stipend.EINVALID, "result %d: outcome %.20q is not pass, fail or skip", i+1, r.Outcome)
		}
		ms, err := durationMS(r.Duration)
		if err != nil {
			return nil, stipend.Errorf(stipend.EINVALID, "result %d: %s", i+1, stipend.ErrorMessage(err))
		}
		out = append(out, Result{RunID: or(r.RunID, d.RunID), Test: r.Test, Outcome: o,
			Contributor: or(r.Contributor, d.Contributor), DurationMS: ms, URL: r.URL})
	}
	return out, nil
}

// durationMS reads a duration in seconds, a JSON number, into milliseconds.
func durationMS(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var sec float64
	if err := json.Unmarshal(raw, &sec); err != nil || math.IsNaN(sec) || sec < 0 || sec > maxDurationSec {
		return 0, stipend.Errorf(stipend.EINVALID, "duration: must be a number of seconds")
	}
	return int64(math.Round(sec * 1000)), nil
}

func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("%s has the wrong type", or(typ.Field, "the document"))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the document is empty or cut short"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON"
}

// ParseJUnit reads JUnit XML with github.com/joshdk/go-junit. A test is named
// "classname.name". Its contributor, run id and URL come from attributes of the testcase
// (contributor="…", run_id="…", url="…"), else from <properties> of its suite, else from the
// defaults.
func ParseJUnit(data []byte, d Defaults) ([]Result, error) {
	if !bytes.Contains(data, []byte("<test")) {
		return nil, stipend.Errorf(stipend.EINVALID, "not JUnit XML: no <testsuite> or <testcase>")
	}
	if err := wellFormedXML(data); err != nil {
		return nil, err
	}
	suites, err := junit.Ingest(data)
	if err != nil {
		return nil, stipend.Errorf(stipend.EINVALID, "not JUnit XML: %v", err)
	}
	var out []Result
	var walk func(s junit.Suite, inherited map[string]string) error
	walk = func(s junit.Suite, inherited map[string]string) error {
		props := map[string]string{}
		for k, v := range inherited {
			props[k] = v
		}
		for k, v := range s.Properties {
			props[k] = v
		}
		for _, t := range s.Tests {
			o := Pass
			switch t.Status {
			case junit.StatusFailed, junit.StatusError:
				o = Fail
			case junit.StatusSkipped:
				o = Skip
			}
			name := t.Name
			if t.Classname != "" {
				name = t.Classname + "." + t.Name
			}
			pick := func(key, def string) string {
				if v := t.Properties[key]; v != "" {
					return v
				}
				if v := props[key]; v != "" {
					return v
				}
				return def
			}
			out = append(out, Result{RunID: pick("run_id", d.RunID), Test: name, Outcome: o,
				Contributor: pick("contributor", d.Contributor), DurationMS: t.Duration.Milliseconds(), URL: pick("url", "")})
			if len(out) > MaxResults {
				return stipend.Errorf(stipend.EINVALID, "more than %d results", MaxResults)
			}
		}
		for _, sub := range s.Suites {
			if err := walk(sub, props); err != nil {
				return err
			}
		}
		return nil
	}
	for _, s := range suites {
		if err := walk(s, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// wellFormedXML checks that data is one well-formed XML document, which go-junit's lenient
// reader does not insist on: a truncated upload must be refused, not half read.
func wellFormedXML(data []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return stipend.Errorf(stipend.EINVALID, "malformed XML: %v", err)
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if depth != 0 || roots != 1 {
		return stipend.Errorf(stipend.EINVALID, "malformed XML: the document is not one complete element")
	}
	return nil
}

// goTestEvent is one line of `go test -json` (cmd/test2json).
type goTestEvent struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// ParseGoTestJSON reads `go test -json` output: every test's final pass, fail or skip event
// is a result, named "package.Test". Run id and contributor come from the defaults.
func ParseGoTestJSON(data []byte, d Defaults) ([]Result, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var out []Result
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var e goTestEvent
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, stipend.Errorf(stipend.EINVALID, "line %d: not a go test -json event: %s", line, jsonProblem(err))
		}
		if e.Action == "" {
			return nil, stipend.Errorf(stipend.EINVALID, "line %d: not a go test -json event (no Action)", line)
		}
		if e.Test == "" {
			continue // package-level events
		}
		o, final := outcome(e.Action)
		if !final {
			continue // run, output, pause, cont
		}
		if math.IsNaN(e.Elapsed) || e.Elapsed < 0 || e.Elapsed > maxDurationSec {
			return nil, stipend.Errorf(stipend.EINVALID, "line %d: Elapsed out of range", line)
		}
		name := e.Test
		if e.Package != "" {
			name = e.Package + "." + e.Test
		}
		out = append(out, Result{RunID: d.RunID, Test: name, Outcome: o, Contributor: d.Contributor,
			DurationMS: int64(math.Round(e.Elapsed * 1000))})
		if len(out) > MaxResults {
			return nil, stipend.Errorf(stipend.EINVALID, "more than %d results", MaxResults)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, stipend.Errorf(stipend.EINVALID, "line %d: %v", line+1, err)
	}
	return out, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
