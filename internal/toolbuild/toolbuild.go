// Package toolbuild builds the programs the tests run (btcd and lnd for the regtest network,
// stripe-mock for Stripe) from a tools module of the repository, which pins their versions,
// and caches them in the user's cache directory. The test command builds them itself on first
// use; nothing is installed by hand.
package toolbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Spec is a set of programs built from one tools module.
type Spec struct {
	// Name names the cache directory and the progress messages ("regtest", "stripe-mock").
	Name string
	// Module is the tools module's directory, relative to the repository's root ("tools").
	Module string
	// Packages are the main packages to build; each binary is named after its package's last
	// path element.
	Packages []string
	// Tags are the build tags.
	Tags []string
}

// Build returns the directory holding spec's binaries, building them on first use. The result
// is kept under a key made of everything it depends on (the module's go.mod and go.sum, which
// pin the versions, the tags, the Go version and platform), so later calls return
// at once. Concurrent callers, such as test packages running in parallel, wait for one build,
// and a build is moved into place whole, so a half-built directory is never used.
func Build(ctx context.Context, spec Spec, logw io.Writer) (string, error) {
	if logw == nil {
		logw = io.Discard
	}
	modDir, err := moduleDir(ctx, spec)
	if err != nil {
		return "", err
	}
	key, err := buildKey(modDir, spec)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for %s: %w", spec.Name, err)
	}
	dir := filepath.Join(cache, "stipend", spec.Name, key)
	if complete(dir, spec) {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if complete(dir, spec) {
		return dir, nil // another process built them while this one waited
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	args := []string{"build"}
	if len(spec.Tags) > 0 {
		args = append(args, "-tags="+strings.Join(spec.Tags, " "))
	}
	args = append(append(args, "-o", tmp+string(filepath.Separator)), spec.Packages...)
	fmt.Fprintf(logw, "%s: building %s into %s (the first time can take minutes)\n", spec.Name, strings.Join(names(spec), ", "), dir)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building %s (go %s in %s): %w\n%s", spec.Name, strings.Join(args, " "), modDir, err, out)
	}
	fmt.Fprintf(logw, "%s: built in %s\n", spec.Name, time.Since(start).Round(time.Second))
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// names are the binaries' names.
func names(spec Spec) []string {
	out := make([]string, len(spec.Packages))
	for i, p := range spec.Packages {
		out[i] = path.Base(p)
	}
	return out
}

func complete(dir string, spec Spec) bool {
	for _, n := range names(spec) {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// moduleDir finds spec's tools module in the repository that the current directory is in.
func moduleDir(ctx context.Context, spec Spec) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("locating the module: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("%s must run inside the Stipend repository (no go.mod found)", spec.Name)
	}
	dir := filepath.Join(filepath.Dir(gomod), filepath.FromSlash(spec.Module))
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", fmt.Errorf("no tools module at %s: %w", dir, err)
	}
	return dir, nil
}

func buildKey(modDir string, spec Spec) (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(modDir, f))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	// The packages are not in the key: each spec has its own directory (its name), and a
	// spec's packages change only with its code. Binaries built before this package existed
	// keep their keys.
	tags := ""
	if len(spec.Tags) > 0 {
		tags = strings.Join(spec.Tags, ",") + " "
	}
	fmt.Fprintf(h, "%s%s/%s %s", tags, runtime.GOOS, runtime.GOARCH, runtime.Version())
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
