package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
)

// largeUpload is the size from which "ci report" shows how its upload is going; smaller
// files are sent before anyone could read the progress.
const largeUpload = 1 << 20

// maxResultsFile bounds what "ci report" reads: no server accepts more (its limit is at
// most 1 GiB), so a larger input is a mistake, such as the wrong file or an endless pipe.
const maxResultsFile = 1 << 30

func cmdCIReport(ctx context.Context, e *env, name string, args []string) error {
	const synopsis = "ci report --bounty ID (--junit FILE | --go-test-json FILE | --json FILE) [--run-id R] [--contributor LOGIN]\n" +
		"       [--verbose] [--idempotency-key K]\n\n" +
		"Uploads one file of test results, - for stdin, with the CI token in --api-key or STIPEND_API_KEY.\n" +
		"--json FILE is a file in Stipend's JSON format; --json alone prints the server's report as JSON."
	// --json is the global flag that asks for the raw report, and it also names a file in
	// Stipend's JSON format: "--json FILE" is a file, a --json with no file after it is the
	// global flag. Files are taken out before the flags are parsed.
	jsonFiles, args := takeJSONFiles(args)
	fs := e.flagSet(name)
	bountyID := fs.String("bounty", "", "the bounty `ID` the results are for (required)")
	junit := fs.String("junit", "", "a JUnit XML `FILE`, - for stdin")
	goTest := fs.String("go-test-json", "", "a `FILE` of go test -json output, - for stdin")
	runID := fs.String("run-id", "", "the `run` for results that name none (default: $GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT when set, as in GitHub Actions)")
	contributor := fs.String("contributor", "", "the GitHub `login` paid for results that name none")
	verbose := fs.Bool("verbose", false, "list each result that was not paid, with the reason")
	idem := fs.String("idempotency-key", "", "a `key` that makes retrying safe: a repeat with the same key and file pays once (default: a new random key)")
	if _, err := e.parseArgs(fs, synopsis, args, 0); err != nil {
		return err
	}
	refuse := func(err error) error { return usageWithHelp(fs, synopsis, err) }

	type input struct{ format, path string }
	var inputs []input
	if *junit != "" {
		inputs = append(inputs, input{client.FormatJUnit, *junit})
	}
	if *goTest != "" {
		inputs = append(inputs, input{client.FormatGoTestJSON, *goTest})
	}
	for _, f := range jsonFiles {
		inputs = append(inputs, input{client.FormatJSON, f})
	}
	if *bountyID == "" {
		return refuse(errors.New("--bounty is required"))
	}
	if len(inputs) != 1 {
		return refuse(fmt.Errorf("give exactly one file of results, with --junit, --go-test-json or --json; got %d", len(inputs)))
	}
	in := inputs[0]
	data, err := e.readInput(in.path)
	if err != nil {
		return &usageError{cmd: name, err: err}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return &usageError{cmd: name, err: fmt.Errorf("%s is empty: there are no results to report", inputName(in.path))}
	}
	if *runID == "" {
		// In GitHub Actions each attempt of a workflow run is a run of the tests of its own.
		if id := e.getenv("GITHUB_RUN_ID"); id != "" {
			*runID = id
			if attempt := e.getenv("GITHUB_RUN_ATTEMPT"); attempt != "" {
				*runID += "-" + attempt
			}
		}
	}

	return moneyRequest(ctx, e, func(ctx context.Context, c *client.Client) (*wire.ResultsReport, error) {
		p := e.progress()
		defer p.done()
		ctx = client.WithUploadProgress(ctx, p.upload(inputName(in.path)))
		return c.ReportResults(ctx, *bountyID, in.format, *runID, *contributor, bytes.NewReader(data), *idem)
	}, func(rep *wire.ResultsReport, resp *client.Response) error {
		return e.printReport(rep, resp, *verbose)
	})
}

// takeJSONFiles takes the files named with "--json FILE" or "--json=FILE" out of args, up
// to a "--". A --json followed by a flag, by nothing, or given a truth value ("--json=true")
// is left in args: it is the global flag.
func takeJSONFiles(args []string) (files, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return files, append(rest, args[i:]...)
		}
		if a == "--json" || a == "-json" {
			if i+1 < len(args) && (args[i+1] == "-" || !strings.HasPrefix(args[i+1], "-")) {
				files = append(files, args[i+1])
				i++
				continue
			}
		}
		if flagName, v, ok := strings.Cut(a, "="); ok && (flagName == "--json" || flagName == "-json") && v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				files = append(files, v)
				continue
			}
		}
		rest = append(rest, a)
	}
	return files, rest
}

// readInput reads a file of results, or stdin for "-".
func (e *env) readInput(path string) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		if e.stdin == nil {
			return nil, errors.New("no stdin to read results from")
		}
		r = e.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxResultsFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", inputName(path), err)
	}
	if len(data) > maxResultsFile {
		return nil, fmt.Errorf("%s is larger than any server accepts (1 GiB)", inputName(path))
	}
	return data, nil
}

func inputName(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}

// upload returns the function that shows how far the upload of what has got, once it is
// large: on a terminal, one line counting the bytes sent; elsewhere, such as in a CI log, a
// line at each quarter.
func (p *progress) upload(what string) func(sent, total int64) {
	return func(sent, total int64) {
		if total < largeUpload {
			return
		}
		pct := sent * 100 / total
		quarter := pct / 25 * 25
		if !p.tty && quarter == 0 {
			return
		}
		live := fmt.Sprintf("uploading %s: %s of %s (%d %%)", what, size(sent), size(total), pct)
		if sent == total {
			live = fmt.Sprintf("uploaded %s (%s); waiting for the report", what, size(total))
		}
		p.show(fmt.Sprintf("uploading %s: %d %% of %s", what, quarter, size(total)), live)
	}
}

// size writes a number of bytes as people read it: 512 B, 12.5 KiB, 3.2 MiB.
func size(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

// printReport shows what became of an upload: how many results were paid and why the others
// were not, with each of those listed when verbose.
func (e *env) printReport(rep *wire.ResultsReport, resp *client.Response, verbose bool) error {
	pairs := []string{
		"bounty", rep.BountyID,
		"results", strconv.Itoa(len(rep.Results)),
		"paid", strconv.Itoa(rep.Paid),
		"duplicate", strconv.Itoa(rep.Duplicate),
		"failing", strconv.Itoa(rep.Failing),
		"over budget", strconv.Itoa(rep.OverBudget),
		"rejected", strconv.Itoa(rep.Rejected),
		"amount paid", amount(rep.AmountPaid.Amount, rep.AmountPaid.Asset),
		"units left", strconv.Itoa(rep.UnitsLeft),
		"idempotency key", resp.IdempotencyKey,
	}
	if resp.Replayed {
		pairs = append(pairs, "replayed", "yes: this key was used before, so nothing was paid again")
	}
	if err := e.printPairs(pairs...); err != nil {
		return err
	}
	unpaid := len(rep.Results) - rep.Paid
	if unpaid == 0 {
		return nil
	}
	if !verbose {
		fmt.Fprintf(e.stderr, "\n%d result(s) were not paid; --verbose lists them with the reason\n", unpaid)
		return nil
	}
	fmt.Fprintln(e.stdout)
	tw := e.table()
	fmt.Fprintln(tw, "STATUS\tTEST\tRUN\tCONTRIBUTOR\tREASON")
	for _, v := range rep.Results {
		if v.Status == "paid" {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Status, oneLine(v.Test), oneLine(v.RunID), v.Contributor, oneLine(v.Reason))
	}
	return tw.Flush()
}
