// Package regtest runs a private Bitcoin and Lightning network on 127.0.0.1 for tests and for
// manual use: one btcd in regtest mode and three lnd nodes, the platform (Stipend's own node),
// a payer and a payee, funded by mining and joined by channels
//
//	payer → platform → payee → payer
//
// so that the payer can pay the platform's invoices, the platform can pay the payee directly,
// and the platform can reach the payer only through the payee, a route with a fee.
//
// The daemons are built from the versions pinned in the repository's tools module, by the
// test command itself, and cached between runs; nothing is installed by hand.
package regtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// BuildTags are the lnd build tags: the RPC sub-servers Stipend uses (invoicesrpc for hold
// invoices, routerrpc for SendPaymentV2 and TrackPaymentV2) and those lndclient expects, plus
// "integration", which makes lnd's wallet key derivation cheap so that test nodes start in
// seconds. A production lnd is built without "integration".
var BuildTags = []string{"signrpc", "walletrpc", "chainrpc", "invoicesrpc", "routerrpc", "peersrpc", "integration"}

// Binaries are the paths of the built daemons.
type Binaries struct {
	Btcd, Lnd, Lncli string
}

var tools = []struct{ name, pkg string }{
	{"btcd", "github.com/btcsuite/btcd"},
	{"lnd", "github.com/lightningnetwork/lnd/cmd/lnd"},
	{"lncli", "github.com/lightningnetwork/lnd/cmd/lncli"},
}

// Build returns the daemons for the tools module's pinned versions, building them on first
// use. A cold build takes minutes; the result is kept in the user's cache directory under a
// key made of everything it depends on (the tools module's go.mod and go.sum, the tags, the Go
// version and platform), so that every later call returns at once. Concurrent callers, such
// as test packages running in parallel, wait for one build.
func Build(ctx context.Context, logw io.Writer) (*Binaries, error) {
	toolsDir, err := toolsModuleDir(ctx)
	if err != nil {
		return nil, err
	}
	key, err := buildKey(toolsDir)
	if err != nil {
		return nil, err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("no cache directory for the regtest daemons: %w", err)
	}
	dir := filepath.Join(cache, "stipend", "regtest", key)
	bins := &Binaries{Btcd: filepath.Join(dir, "btcd"), Lnd: filepath.Join(dir, "lnd"), Lncli: filepath.Join(dir, "lncli")}
	if bins.complete() {
		return bins, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if bins.complete() {
		return bins, nil // another process built them while this one waited
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	args := []string{"build", "-tags=" + strings.Join(BuildTags, " "), "-o", tmp + string(filepath.Separator)}
	for _, t := range tools {
		args = append(args, t.pkg)
	}
	fmt.Fprintf(logw, "regtest: building btcd, lnd and lncli into %s (the first time takes several minutes)\n", dir)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = toolsDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("building the regtest daemons (go %s in %s): %w\n%s", strings.Join(args, " "), toolsDir, err, out)
	}
	fmt.Fprintf(logw, "regtest: built in %s\n", time.Since(start).Round(time.Second))
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	return bins, nil
}

func (b *Binaries) complete() bool {
	for _, p := range []string{b.Btcd, b.Lnd, b.Lncli} {
		if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// toolsModuleDir finds the tools module of the repository that the current directory is in.
func toolsModuleDir(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("locating the module: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("regtest must run inside the Stipend repository (no go.mod found)")
	}
	dir := filepath.Join(filepath.Dir(gomod), "tools")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", fmt.Errorf("no tools module at %s: %w", dir, err)
	}
	return dir, nil
}

func buildKey(toolsDir string) (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(toolsDir, f))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	fmt.Fprintf(h, "%s %s/%s %s", strings.Join(BuildTags, ","), runtime.GOOS, runtime.GOARCH, runtime.Version())
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// lockFile takes an exclusive lock on path, waiting for it as long as ctx allows.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
