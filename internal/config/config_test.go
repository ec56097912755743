package config

import (
	"flag"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// env returns a getenv over a fixed map, so that tests never read the real environment.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func load(t *testing.T, args []string, vars map[string]string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Load(fs, args, env(vars))
}

func TestDefaultsNeedNoConfiguration(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil, map[string]string{"HOME": "/home/ada"})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen:            "127.0.0.1:8402",
		DataDir:           filepath.Join("/home/ada", ".local", "share", "stipend"),
		DatabaseURL:       "sqlite:" + filepath.Join("/home/ada", ".local", "share", "stipend", "stipend.db"),
		DatabaseConns:     32,
		LogLevel:          slog.LevelInfo,
		LogFormat:         "text",
		FeeBPS:            250,
		Migrate:           true,
		BodyLimit:         1 << 20,
		ResultsLimit:      32 << 20,
		ShutdownTimeout:   15 * time.Second,
		LND:               LND{Network: "mainnet"},
		HoldCltvExpiry:    576,
		HoldInvoiceExpiry: time.Hour,
		PayoutFeeCapBPS:   100,
		PayoutMinFeeCap:   10_000,
		JobLease:          5 * time.Minute,
		Workers:           4,
		SweepInterval:     30 * time.Second,
		PublicURL:         "http://127.0.0.1:8402",
		GitHub:            GitHub{WebURL: "https://github.com", APIURL: "https://api.github.com/"},
		Paywall: Paywall{ChallengeRate: 60, ChallengeBurst: 30, InvoiceExpiry: 10 * time.Minute, CallLease: 2 * time.Minute,
			UpstreamTimeout: 30 * time.Second},
		Stripe: Stripe{Tolerance: 5 * time.Minute, Country: "US"},
	}
	if *c != want {
		t.Fatalf("defaults = %+v\nwant       %+v", *c, want)
	}
	c, err = load(t, nil, map[string]string{"HOME": "/home/ada", "XDG_DATA_HOME": "/xdg"})
	if err != nil || c.DataDir != "/xdg/stipend" {
		t.Fatalf("XDG_DATA_HOME is not honoured: %+v, %v", c, err)
	}
}

func TestFlagsWinOverEnvironmentWhichWinsOverDefaults(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"HOME":                 "/home/ada",
		"STIPEND_LISTEN":       "0.0.0.0:9000",
		"STIPEND_FEE_BPS":      "100",
		"STIPEND_DATABASE_URL": "postgres://u@db:5432/stipend",
		"STIPEND_LOG_FORMAT":   "json",
		"STIPEND_MIGRATE":      "false",
	}
	c, err := load(t, []string{"--fee-bps", "500", "--log-level=debug"}, vars)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9000" || c.FeeBPS != 500 || c.LogLevel != slog.LevelDebug || c.LogFormat != "json" ||
		c.DatabaseURL != "postgres://u@db:5432/stipend" || c.Migrate {
		t.Fatalf("config = %+v", c)
	}
}

func TestInvalidSettingsAreNamed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		flag, value string
	}{
		{"listen", "8402"},
		{"database-url", "mysql://x"},
		{"database-url", "sqlite:"},
		{"log-level", "loud"},
		{"log-format", "xml"},
		{"fee-bps", "20000"},
		{"fee-bps", "-1"},
		{"fee-bps", "2.5"},
		{"migrate", "maybe"},
		{"body-limit", "10"},
		{"results-limit", "huge"},
		{"shutdown-timeout", "soon"},
		{"shutdown-timeout", "-1s"},
		{"lnd-network", "bitcoin"},
		{"database-max-conns", "0"},
		{"lnd-host", "localhost"},
		{"lnurl-insecure", "sometimes"},
		{"hold-invoice-cltv", "41"},
		{"hold-invoice-cltv", "2016"},
		{"hold-invoice-expiry", "10s"},
		{"hold-invoice-expiry", "48h"},
		{"payout-fee-cap-bps", "100000"},
		{"payout-min-fee-cap", "10 USD"},
		{"payout-min-fee-cap", "ten"},
		{"challenge-rate", "0"},
		{"challenge-burst", "-1"},
		{"challenge-invoice-expiry", "10s"},
		{"paid-call-lease", "2h"},
		{"endpoint-private-upstreams", "maybe"},
		{"endpoint-timeout", "5m"},
		{"stripe-webhook-tolerance", "1s"},
		{"stripe-country", "USA"},
		{"stripe-api-url", "ftp://x"},
		{"job-lease", "1ms"},
		{"workers", "0"},
		{"sweep-interval", "0s"},
		{"public-url", "stipend.example"},
		{"public-url", "ftp://stipend.example"},
	}
	for _, tt := range tests {
		t.Run(tt.flag+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			for _, viaEnv := range []bool{false, true} {
				vars := map[string]string{"HOME": "/home/ada"}
				var args []string
				if viaEnv {
					vars[EnvName(tt.flag)] = tt.value
				} else {
					args = []string{"--" + tt.flag + "=" + tt.value}
				}
				_, err := load(t, args, vars)
				if err == nil {
					t.Fatalf("%s=%q accepted (env: %v)", tt.flag, tt.value, viaEnv)
				}
				if msg := err.Error(); !strings.Contains(msg, "--"+tt.flag) || !strings.Contains(msg, EnvName(tt.flag)) {
					t.Fatalf("error %q does not name --%s and %s", msg, tt.flag, EnvName(tt.flag))
				}
			}
		})
	}
}

func TestUnknownFlagsAndArgumentsAreRefused(t *testing.T) {
	t.Parallel()
	if _, err := load(t, []string{"--colour=blue"}, nil); err == nil {
		t.Fatal("an unknown flag was accepted")
	}
	if _, err := load(t, []string{"extra"}, map[string]string{"HOME": "/h"}); err == nil {
		t.Fatal("a stray argument was accepted")
	}
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	for flagName, want := range map[string]string{"data-dir": "STIPEND_DATA_DIR", "listen": "STIPEND_LISTEN", "fee-bps": "STIPEND_FEE_BPS"} {
		if got := EnvName(flagName); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", flagName, got, want)
		}
	}
}

func TestLightningSettingsComeTogether(t *testing.T) {
	t.Parallel()
	base := map[string]string{"HOME": "/h", "STIPEND_LND_HOST": "127.0.0.1:10009"}
	_, err := load(t, nil, base)
	if err == nil || !strings.Contains(err.Error(), "--lnd-tls-cert") {
		t.Fatalf("lnd host without a certificate: %v", err)
	}
	base["STIPEND_LND_TLS_CERT"], base["STIPEND_LND_MACAROON"], base["STIPEND_LND_NETWORK"] = "/tls.cert", "/admin.macaroon", "regtest"
	c, err := load(t, []string{"--payout-min-fee-cap=2 sat"}, base)
	if err != nil {
		t.Fatal(err)
	}
	if c.LND != (LND{Host: "127.0.0.1:10009", TLSCertPath: "/tls.cert", MacaroonPath: "/admin.macaroon", Network: "regtest"}) || c.PayoutMinFeeCap != 2000 {
		t.Fatalf("config = %+v", c)
	}
}

func TestGitHubSettingsComeTogether(t *testing.T) {
	t.Parallel()
	base := map[string]string{"HOME": "/h", "STIPEND_GITHUB_CLIENT_ID": "Iv1.abc", "STIPEND_GITHUB_CLIENT_SECRET": "0123456789abcdef0123"}
	c, err := load(t, []string{"--public-url=https://stipend.example/", "--github-url=https://ghe.example", "--github-api-url=https://ghe.example/api/v3/"}, base)
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL != "https://stipend.example" || c.GitHub != (GitHub{ClientID: "Iv1.abc", ClientSecret: "0123456789abcdef0123",
		WebURL: "https://ghe.example", APIURL: "https://ghe.example/api/v3/"}) {
		t.Fatalf("config = %+v", c)
	}
	if _, err := load(t, nil, map[string]string{"HOME": "/h", "STIPEND_GITHUB_CLIENT_ID": "Iv1.abc"}); err == nil ||
		!strings.Contains(err.Error(), "--github-client-secret") {
		t.Fatalf("a client ID without its secret: %v", err)
	}
	if _, err := load(t, []string{"--github-api-url=api.github.com"}, base); err == nil || !strings.Contains(err.Error(), "--github-api-url") {
		t.Fatalf("a GitHub API address without a scheme: %v", err)
	}
}
