// Package config is the one place where stipendd's settings are declared, read and checked.
// Every setting is a flag and an environment variable of the same name: --data-dir and
// STIPEND_DATA_DIR. A flag wins over the environment, the environment over the default.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stipend/stipend/internal/db"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning"
)

// EnvPrefix starts the environment variable of every setting.
const EnvPrefix = "STIPEND_"

// Config is stipendd's configuration.
type Config struct {
	Listen          string
	DataDir         string
	DatabaseURL     string
	DatabaseConns   int
	LogLevel        slog.Level
	LogFormat       string
	FeeBPS          int
	Migrate         bool
	BodyLimit       int64
	ResultsLimit    int64
	ShutdownTimeout time.Duration

	// Lightning: no LND.Host means no Lightning node.
	LND           LND
	LNURLInsecure bool
	// The hold invoices that escrow expert questions.
	HoldCltvExpiry    uint64
	HoldInvoiceExpiry time.Duration
	// The payout engine.
	PayoutFeeCapBPS int64
	PayoutMinFeeCap int64 // msat
	JobLease        time.Duration
	Workers         int
	SweepInterval   time.Duration

	// PublicURL is where people reach this server, for links sent out of it.
	PublicURL string
	// GitHub: no GitHub.ClientID means people cannot link GitHub logins themselves.
	GitHub GitHub
	// Paywall: priced routes and providers' endpoints.
	Paywall Paywall
	// Stripe: no Stripe.APIKey means no card payments and no fiat payouts.
	Stripe Stripe
}

// Stripe says how to reach Stripe.
type Stripe struct {
	APIKey        string
	APIURL        string // "" for Stripe's own API
	WebhookSecret string
	// ConnectWebhookSecret signs the Connect endpoint's deliveries (connected accounts' events).
	ConnectWebhookSecret string
	Tolerance            time.Duration // how far a webhook's timestamp may be from now
	Country              string        // the default country of payees' Connect accounts
}

// Paywall tunes priced routes (HTTP 402) and the proxy to providers' endpoints.
type Paywall struct {
	ChallengeRate    float64       // challenges per minute per client
	ChallengeBurst   int           // challenges at once per client; 0: no limit
	InvoiceExpiry    time.Duration // how long a challenge's invoice can be paid
	CallLease        time.Duration // how long a paid call may run before its payment is refunded
	PrivateUpstreams bool          // let endpoints' upstreams be loopback or private addresses
	UpstreamTimeout  time.Duration // how long the proxy waits for an upstream
}

// GitHub names the OAuth app through which people link their GitHub logins.
type GitHub struct {
	ClientID     string
	ClientSecret string
	WebURL       string
	APIURL       string
}

// LND says how to reach the platform's lnd.
type LND struct {
	Host         string
	TLSCertPath  string
	MacaroonPath string
	Network      string
}

// raw holds the settings as text, as flags and the environment give them.
type raw struct {
	listen, dataDir, databaseURL, databaseConns, logLevel, logFormat, feeBPS, migrate, bodyLimit, resultsLimit, shutdownTimeout string
	lndHost, lndTLSCert, lndMacaroon, lndNetwork, lnurlInsecure, holdCltv, holdExpiry                                           string
	payoutFeeCapBPS, payoutMinFeeCap, jobLease, workers, sweepInterval                                                          string
	publicURL, githubClientID, githubClientSecret, githubURL, githubAPIURL                                                      string
	challengeRate, challengeBurst, challengeExpiry, callLease, privateUpstreams, upstreamTimeout                                string
	stripeKey, stripeURL, stripeWebhookSecret, stripeConnectSecret, stripeTolerance, stripeCountry                              string
}

// setting describes one setting for the flag set, the environment and the README's table.
type setting struct {
	name, def, usage string
	dest             *string
}

func settings(r *raw) []setting {
	return []setting{
		{"listen", "127.0.0.1:8402", "address to serve HTTP on", &r.listen},
		{"data-dir", "", "directory for the SQLite database and other state (default $XDG_DATA_HOME/stipend or ~/.local/share/stipend)", &r.dataDir},
		{"database-url", "", "postgres://… for PostgreSQL, or sqlite:PATH (default: sqlite in the data directory)", &r.databaseURL},
		{"database-max-conns", "32", "the most connections to PostgreSQL this server opens", &r.databaseConns},
		{"log-level", "info", "debug, info, warn or error", &r.logLevel},
		{"log-format", "text", "text or json", &r.logFormat},
		{"fee-bps", "250", "platform fee in basis points (1/100 of a percent), 0 to 10000", &r.feeBPS},
		{"migrate", "true", "apply pending database migrations at start; when false, refuse to serve an outdated schema", &r.migrate},
		{"body-limit", "1048576", "largest request body accepted, in bytes", &r.bodyLimit},
		{"results-limit", "33554432", "largest upload of CI results accepted, in bytes", &r.resultsLimit},
		{"shutdown-timeout", "15s", "how long a graceful shutdown waits for requests in flight", &r.shutdownTimeout},
		{"lnd-host", "", "gRPC host:port of the platform's lnd; empty runs without Lightning", &r.lndHost},
		{"lnd-tls-cert", "", "path of lnd's tls.cert", &r.lndTLSCert},
		{"lnd-macaroon", "", "path of an lnd macaroon with invoice, offchain and info permissions (admin.macaroon will do)", &r.lndMacaroon},
		{"lnd-network", "mainnet", "the Bitcoin network of lnd: mainnet, testnet, signet, regtest or simnet", &r.lndNetwork},
		{"lnurl-insecure", "false", "let Lightning Addresses use plain HTTP and private addresses (regtest and tests only)", &r.lnurlInsecure},
		{"hold-invoice-cltv", "576", "final CLTV delta of the hold invoices that escrow questions, 42 to 1008 blocks; it bounds the answer window they allow", &r.holdCltv},
		{"hold-invoice-expiry", "1h", "how long an asker has to pay a question's hold invoice", &r.holdExpiry},
		{"payout-fee-cap-bps", "100", "the routing fee a payout may pay unless it names its own cap, in basis points of its amount", &r.payoutFeeCapBPS},
		{"payout-min-fee-cap", "10 sat", "the smallest fee cap of a payout, as an amount such as \"10 sat\"", &r.payoutMinFeeCap},
		{"job-lease", "5m", "how long a worker holds a job before another may take it over, when the first has died", &r.jobLease},
		{"workers", "4", "how many background jobs (payouts, sweeps) run at once", &r.workers},
		{"sweep-interval", "30s", "how often balances are checked for automatic payouts", &r.sweepInterval},
		{"public-url", "", "the address people reach this server at, for links it sends out (default http:// and --listen)", &r.publicURL},
		{"github-client-id", "", "client ID of the GitHub OAuth app through which people link their logins; empty turns that off", &r.githubClientID},
		{"github-client-secret", "", "client secret of that OAuth app (prefer the environment variable to the flag)", &r.githubClientSecret},
		{"github-url", "https://github.com", "GitHub's web address (a GitHub Enterprise server's, if that is where logins live)", &r.githubURL},
		{"github-api-url", "https://api.github.com/", "GitHub's REST API", &r.githubAPIURL},
		{"challenge-rate", "60", "402 challenges issued per minute to one client (each costs an invoice)", &r.challengeRate},
		{"challenge-burst", "30", "402 challenges one client may get at once; 0 turns the limit off", &r.challengeBurst},
		{"challenge-invoice-expiry", "10m", "how long the invoice of a 402 challenge can be paid", &r.challengeExpiry},
		{"paid-call-lease", "2m", "how long a paid call may run; one whose server died is refunded after it", &r.callLease},
		{"endpoint-private-upstreams", "false", "let providers' endpoints proxy to loopback and private addresses (development and tests only)", &r.privateUpstreams},
		{"endpoint-timeout", "30s", "how long the proxy waits for a provider's upstream", &r.upstreamTimeout},
		{"stripe-api-key", "", "Stripe secret key (sk_…); empty turns card payments and fiat payouts off (prefer the environment variable)", &r.stripeKey},
		{"stripe-api-url", "", "Stripe's API address; empty for api.stripe.com (stripe-mock's in tests)", &r.stripeURL},
		{"stripe-webhook-secret", "", "signing secret (whsec_…) of the webhook endpoint <public-url>/v1/stripe/webhook", &r.stripeWebhookSecret},
		{"stripe-connect-webhook-secret", "", "signing secret of the Connect webhook endpoint (same URL), which receives payees' account.updated events", &r.stripeConnectSecret},
		{"stripe-webhook-tolerance", "5m", "how far a webhook's timestamp may be from now, in the past or the future", &r.stripeTolerance},
		{"stripe-country", "US", "the default country of payees' Stripe Connect accounts", &r.stripeCountry},
	}
}

// EnvName returns the environment variable of a flag: data-dir → STIPEND_DATA_DIR.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load parses args and the environment (through getenv) into a Config. fs may carry flags of
// its own command besides the settings. The error of an invalid setting names both its flag
// and its environment variable.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (*Config, error) {
	var r raw
	all := settings(&r)
	for _, s := range all {
		fs.StringVar(s.dest, s.name, s.def, s.usage+" ["+EnvName(s.name)+"]")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, s := range all {
		if v := getenv(EnvName(s.name)); v != "" && !set[s.name] {
			*s.dest = v
		}
	}
	return r.check(getenv)
}

// invalid names the setting in its two spellings.
func invalid(flagName, format string, args ...any) error {
	return fmt.Errorf("invalid configuration: --%s (%s): %s", flagName, EnvName(flagName), fmt.Sprintf(format, args...))
}

func (r *raw) check(getenv func(string) string) (*Config, error) {
	c := &Config{Listen: r.listen, LogFormat: r.logFormat}
	if _, port, err := net.SplitHostPort(r.listen); err != nil || port == "" {
		return nil, invalid("listen", "%q is not host:port", r.listen)
	}
	c.DataDir = r.dataDir
	if c.DataDir == "" {
		c.DataDir = defaultDataDir(getenv)
		if c.DataDir == "" {
			return nil, invalid("data-dir", "no home directory to put it in; set it")
		}
	}
	c.DatabaseURL = r.databaseURL
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite:" + filepath.Join(c.DataDir, "stipend.db")
	}
	if _, _, err := db.ParseURL(c.DatabaseURL); err != nil {
		return nil, invalid("database-url", "%v", err)
	}
	if n, err := strconv.Atoi(r.databaseConns); err != nil || n < 1 || n > 1000 {
		return nil, invalid("database-max-conns", "%q is not a number from 1 to 1000", r.databaseConns)
	} else {
		c.DatabaseConns = n
	}
	if err := c.LogLevel.UnmarshalText([]byte(r.logLevel)); err != nil {
		return nil, invalid("log-level", "%q is not debug, info, warn or error", r.logLevel)
	}
	if r.logFormat != "text" && r.logFormat != "json" {
		return nil, invalid("log-format", "%q is not text or json", r.logFormat)
	}
	fee, err := strconv.Atoi(r.feeBPS)
	if err != nil || fee < 0 || fee > 10000 {
		return nil, invalid("fee-bps", "%q is not a whole number of basis points from 0 to 10000", r.feeBPS)
	}
	c.FeeBPS = fee
	if c.Migrate, err = strconv.ParseBool(r.migrate); err != nil {
		return nil, invalid("migrate", "%q is not true or false", r.migrate)
	}
	if c.BodyLimit, err = strconv.ParseInt(r.bodyLimit, 10, 64); err != nil || c.BodyLimit < 1024 || c.BodyLimit > 1<<30 {
		return nil, invalid("body-limit", "%q is not a number of bytes from 1024 to 1073741824", r.bodyLimit)
	}
	if c.ResultsLimit, err = strconv.ParseInt(r.resultsLimit, 10, 64); err != nil || c.ResultsLimit < 1024 || c.ResultsLimit > 1<<30 {
		return nil, invalid("results-limit", "%q is not a number of bytes from 1024 to 1073741824", r.resultsLimit)
	}
	if c.ShutdownTimeout, err = time.ParseDuration(r.shutdownTimeout); err != nil || c.ShutdownTimeout <= 0 {
		return nil, invalid("shutdown-timeout", "%q is not a positive duration such as 15s", r.shutdownTimeout)
	}
	if err := r.checkLightning(c); err != nil {
		return nil, err
	}
	if err := r.checkEngine(c); err != nil {
		return nil, err
	}
	if err := r.checkGitHub(c); err != nil {
		return nil, err
	}
	if err := r.checkPaywall(c); err != nil {
		return nil, err
	}
	if err := r.checkStripe(c); err != nil {
		return nil, err
	}
	return c, nil
}

func (r *raw) checkStripe(c *Config) error {
	c.Stripe = Stripe{APIKey: r.stripeKey, APIURL: strings.TrimSuffix(r.stripeURL, "/"), WebhookSecret: r.stripeWebhookSecret,
		ConnectWebhookSecret: r.stripeConnectSecret,
		Country:              strings.ToUpper(r.stripeCountry)}
	var err error
	if c.Stripe.Tolerance, err = time.ParseDuration(r.stripeTolerance); err != nil || c.Stripe.Tolerance < 10*time.Second || c.Stripe.Tolerance > time.Hour {
		return invalid("stripe-webhook-tolerance", "%q is not a duration from 10s to 1h", r.stripeTolerance)
	}
	if len(c.Stripe.Country) != 2 {
		return invalid("stripe-country", "%q is not a two-letter country code", r.stripeCountry)
	}
	if c.Stripe.APIURL != "" && !isWebURL(c.Stripe.APIURL) {
		return invalid("stripe-api-url", "%q is not an http(s) address", r.stripeURL)
	}
	if c.Stripe.APIKey != "" && c.Stripe.WebhookSecret == "" {
		return invalid("stripe-webhook-secret", "required with --stripe-api-key: card fundings are credited by webhook events")
	}
	return nil
}

func (r *raw) checkPaywall(c *Config) error {
	p := &c.Paywall
	var err error
	if p.ChallengeRate, err = strconv.ParseFloat(r.challengeRate, 64); err != nil || !(p.ChallengeRate > 0 && p.ChallengeRate <= 1e6) {
		return invalid("challenge-rate", "%q is not a number of challenges per minute from 0 to 1000000", r.challengeRate)
	}
	if p.ChallengeBurst, err = strconv.Atoi(r.challengeBurst); err != nil || p.ChallengeBurst < 0 || p.ChallengeBurst > 1e6 {
		return invalid("challenge-burst", "%q is not a number from 0 to 1000000", r.challengeBurst)
	}
	if p.InvoiceExpiry, err = time.ParseDuration(r.challengeExpiry); err != nil || p.InvoiceExpiry < time.Minute || p.InvoiceExpiry > 24*time.Hour {
		return invalid("challenge-invoice-expiry", "%q is not a duration from 1m to 24h", r.challengeExpiry)
	}
	if p.CallLease, err = time.ParseDuration(r.callLease); err != nil || p.CallLease < 10*time.Second || p.CallLease > time.Hour {
		return invalid("paid-call-lease", "%q is not a duration from 10s to 1h", r.callLease)
	}
	if p.PrivateUpstreams, err = strconv.ParseBool(r.privateUpstreams); err != nil {
		return invalid("endpoint-private-upstreams", "%q is not true or false", r.privateUpstreams)
	}
	if p.UpstreamTimeout, err = time.ParseDuration(r.upstreamTimeout); err != nil || p.UpstreamTimeout < time.Second || p.UpstreamTimeout >= p.CallLease {
		return invalid("endpoint-timeout", "%q is not a duration of at least 1s and shorter than --paid-call-lease", r.upstreamTimeout)
	}
	return nil
}

func (r *raw) checkLightning(c *Config) error {
	c.LND = LND{Host: r.lndHost, TLSCertPath: r.lndTLSCert, MacaroonPath: r.lndMacaroon, Network: r.lndNetwork}
	if err := lightning.CheckNetwork(r.lndNetwork); err != nil {
		return invalid("lnd-network", "%q is not mainnet, testnet, signet, regtest or simnet", r.lndNetwork)
	}
	if c.LND.Host != "" {
		if _, port, err := net.SplitHostPort(c.LND.Host); err != nil || port == "" {
			return invalid("lnd-host", "%q is not host:port", c.LND.Host)
		}
		for _, f := range []struct{ flag, path string }{{"lnd-tls-cert", c.LND.TLSCertPath}, {"lnd-macaroon", c.LND.MacaroonPath}} {
			if f.path == "" {
				return invalid(f.flag, "required with --lnd-host")
			}
		}
	}
	var err error
	if c.LNURLInsecure, err = strconv.ParseBool(r.lnurlInsecure); err != nil {
		return invalid("lnurl-insecure", "%q is not true or false", r.lnurlInsecure)
	}
	// 42 blocks leave the one-hour shortest answer window after the safety margins; payers
	// refuse routes longer than 2016 blocks in all, of which the hops before Stipend take some.
	if c.HoldCltvExpiry, err = strconv.ParseUint(r.holdCltv, 10, 64); err != nil || c.HoldCltvExpiry < 42 || c.HoldCltvExpiry > 1008 {
		return invalid("hold-invoice-cltv", "%q is not a number of blocks from 42 to 1008", r.holdCltv)
	}
	if c.HoldInvoiceExpiry, err = time.ParseDuration(r.holdExpiry); err != nil || c.HoldInvoiceExpiry < time.Minute || c.HoldInvoiceExpiry > 24*time.Hour {
		return invalid("hold-invoice-expiry", "%q is not a duration from 1m to 24h", r.holdExpiry)
	}
	return nil
}

func (r *raw) checkEngine(c *Config) error {
	bps, err := strconv.ParseInt(r.payoutFeeCapBPS, 10, 64)
	if err != nil || bps < 0 || bps > 10000 {
		return invalid("payout-fee-cap-bps", "%q is not a whole number of basis points from 0 to 10000", r.payoutFeeCapBPS)
	}
	c.PayoutFeeCapBPS = bps
	minFee, err := ledger.ParseAmount(r.payoutMinFeeCap)
	if err != nil || minFee.Asset != ledger.BTC || minFee.Value < 0 {
		return invalid("payout-min-fee-cap", "%q is not an amount of bitcoin such as \"10 sat\"", r.payoutMinFeeCap)
	}
	c.PayoutMinFeeCap = minFee.Value
	if c.JobLease, err = time.ParseDuration(r.jobLease); err != nil || c.JobLease < time.Second {
		return invalid("job-lease", "%q is not a duration of at least 1s", r.jobLease)
	}
	if c.Workers, err = strconv.Atoi(r.workers); err != nil || c.Workers < 1 || c.Workers > 256 {
		return invalid("workers", "%q is not a number from 1 to 256", r.workers)
	}
	if c.SweepInterval, err = time.ParseDuration(r.sweepInterval); err != nil || c.SweepInterval < time.Second {
		return invalid("sweep-interval", "%q is not a duration of at least 1s", r.sweepInterval)
	}
	return nil
}

func (r *raw) checkGitHub(c *Config) error {
	c.PublicURL = strings.TrimSuffix(r.publicURL, "/")
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	} else if !isWebURL(c.PublicURL) {
		return invalid("public-url", "%q is not an http(s) address", r.publicURL)
	}
	c.GitHub = GitHub{ClientID: r.githubClientID, ClientSecret: r.githubClientSecret, WebURL: r.githubURL, APIURL: r.githubAPIURL}
	if c.GitHub.ClientID == "" {
		return nil
	}
	if len(c.GitHub.ClientSecret) < 16 {
		return invalid("github-client-secret", "required with --github-client-id, and GitHub's are longer than 16 characters")
	}
	for _, f := range []struct{ flag, v string }{{"github-url", c.GitHub.WebURL}, {"github-api-url", c.GitHub.APIURL}} {
		if !isWebURL(f.v) {
			return invalid(f.flag, "%q is not an http(s) address", f.v)
		}
	}
	return nil
}

func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func defaultDataDir(getenv func(string) string) string {
	if x := getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "stipend")
	}
	home := getenv("HOME")
	if home == "" {
		if h, err := os.UserHomeDir(); err == nil {
			home = h
		}
	}
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".local", "share", "stipend")
}

// Logger builds the logger the configuration asks for.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// IsHelp reports whether err asked for usage rather than signalling a problem.
func IsHelp(err error) bool { return errors.Is(err, flag.ErrHelp) }
