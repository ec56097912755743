package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/stipend/stipend/accounts"
	"github.com/stipend/stipend/internal/store"
)

// buildVersion is set at link time: -ldflags "-X main.buildVersion=v1.2.3".
var buildVersion = ""

func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func printVersion(_ context.Context, _ []string, stdout, _ io.Writer, _ func(string) string) error {
	fmt.Fprintln(stdout, "stipendd", version())
	return nil
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := loadConfig("migrate", args, stderr, getenv, nil)
	if err != nil {
		return err
	}
	cfg.Migrate = true
	d, err := openDatabase(ctx, cfg, cfg.Logger(stderr))
	if err != nil {
		return err
	}
	defer d.Close()
	current, _, err := d.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database schema at version %d (%s)\n", current, d.Dialect())
	return nil
}

func adminKey(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var name string
	cfg, err := loadConfig("admin-key", args, stderr, getenv, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "admin key", "a name to recognise the key by")
	})
	if err != nil {
		return err
	}
	d, err := openDatabase(ctx, cfg, cfg.Logger(stderr))
	if err != nil {
		return err
	}
	defer d.Close()
	acc := accounts.NewService(store.New(d, nil), nil)
	secret, created, err := acc.Bootstrap(ctx)
	if err != nil {
		return err
	}
	if !created {
		var k *accounts.Key
		if k, secret, err = acc.CreateAdminKey(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "created admin key %s\n", k.ID)
	}
	fmt.Fprintln(stdout, secret)
	return nil
}

func healthcheck(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := loadConfig("healthcheck", args, stderr, getenv, nil)
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(cfg.Listen)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz answered %s", resp.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
