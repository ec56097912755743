package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/internal/jobs"
)

func TestJobsSnoozeError(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("waiting for confirmations: %w", jobs.Snooze(time.Minute))
	if d, ok := jobs.IsSnooze(err); !ok || d != time.Minute {
		t.Fatalf("IsSnooze of a wrapped snooze = %v, %v", d, ok)
	}
	if d, ok := jobs.IsSnooze(jobs.Snooze(-time.Second)); !ok || d != 0 {
		t.Fatalf("a negative snooze = %v, %v; want at once", d, ok)
	}
	if _, ok := jobs.IsSnooze(errors.New("failed")); ok {
		t.Fatal("an ordinary error counted as a snooze")
	}
	if _, ok := jobs.IsSnooze(nil); ok {
		t.Fatal("nil counted as a snooze")
	}
}

func TestJobsDefaultBackoff(t *testing.T) {
	t.Parallel()
	prev := time.Duration(0)
	for attempt := -1; attempt <= 100; attempt++ {
		base := time.Second << max(0, min(attempt, 11)-1)
		base = min(base, 10*time.Minute)
		for range 20 {
			d := jobs.DefaultBackoff(attempt)
			if d < base*9/10 || d > base*11/10 {
				t.Fatalf("DefaultBackoff(%d) = %s, want within 10%% of %s", attempt, d, base)
			}
		}
		if attempt > 1 && base < prev {
			t.Fatalf("backoff shrank at attempt %d", attempt)
		}
		prev = base
	}
}

func TestJobsNewJobValidate(t *testing.T) {
	t.Parallel()
	for _, j := range []jobs.NewJob{{}, {Kind: "k", MaxAttempts: -1}} {
		if got := stipend.ErrorCode(j.Validate()); got != stipend.EINVALID {
			t.Errorf("%+v: code %q, want invalid", j, got)
		}
	}
	if err := (jobs.NewJob{Kind: "k"}).Validate(); err != nil {
		t.Fatal(err)
	}
	if n := (jobs.NewJob{Kind: "k"}).Attempts(); n != jobs.DefaultMaxAttempts {
		t.Fatalf("default attempts %d", n)
	}
}

func TestRunnerRegisterMistakesPanic(t *testing.T) {
	t.Parallel()
	r := jobs.NewRunner(nil, jobs.Options{Logger: quiet})
	ok := func(context.Context, jobs.Job) error { return nil }
	r.Register("k", ok)
	for name, f := range map[string]func(){
		"twice":      func() { r.Register("k", ok) },
		"no kind":    func() { r.Register("", ok) },
		"no handler": func() { r.Register("other", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register %s did not panic", name)
				}
			}()
			f()
		}()
	}
}
