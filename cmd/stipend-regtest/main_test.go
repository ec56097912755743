package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer lets the test read what the running command writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStartsAndPrintsHowToConnect runs the command until the network is up, checks that it
// printed the settings for stipendd, and stops it as Ctrl-C would.
func TestStartsAndPrintsHowToConnect(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--dir", t.TempDir()}, &stdout, &stderr) }()
	deadline := time.After(15 * time.Minute)
	for !strings.Contains(stdout.String(), "Press Ctrl-C") {
		select {
		case err := <-done:
			t.Fatalf("the command ended early: %v\n%s", err, stderr.String())
		case <-deadline:
			t.Fatal("the network did not come up")
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"STIPEND_LND_HOST=127.0.0.1:", "STIPEND_LND_MACAROON=", "alias lncli-payer="} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the output lacks %q:\n%s", want, stdout.String())
		}
	}
}
