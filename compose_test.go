package stipend_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/stipend/stipend/internal/regtest"
)

// Docker does not run where the tests run, so docker-compose.yml, the Dockerfile and
// .dockerignore are checked here instead: compose-go is the library "docker compose" itself
// loads files with, so a file it accepts is one Compose accepts, and the checks below pin down
// the few settings whose loss would only show when someone runs the stack.

const (
	composeFile = "docker-compose.yml"

	// stipenddPort is the port the image and the compose file agree on.
	stipenddPort = 8402

	// defaultShutdownTimeout is stipendd's default --shutdown-timeout (internal/config). It is
	// repeated here rather than imported because config does not export its defaults.
	defaultShutdownTimeout = 15 * time.Second

	// lndModule and btcdModule are the modules whose versions tools/go.mod pins.
	lndModule  = "github.com/lightningnetwork/lnd"
	btcdModule = "github.com/btcsuite/btcd"
)

// loadComposeProject loads docker-compose.yml once for all the tests, which only read it.
// The environment is empty rather than the process's, so that a developer's STIPEND_VERSION or
// COMPOSE_* variables cannot change what is tested; every variable in the file must therefore
// have a default. Nothing here touches the network: only the local resource loader is in use.
var loadComposeProject = sync.OnceValues(func() (*types.Project, error) {
	dir, err := filepath.Abs(".")
	if err != nil {
		return nil, err
	}
	details := types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, composeFile)}},
		Environment: types.Mapping{},
	}
	// The loader validates against the Compose specification's JSON schema and checks the
	// project's consistency (depends_on naming a real service, volumes declared, and so on).
	// The project name is a fallback, as the directory's name is for "docker compose": the
	// file's own name key wins, and without either the loader refuses to load.
	return loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("stipend", false)
	})
})

// composeProject returns the loaded project or stops the test.
func composeProject(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadComposeProject()
	if err != nil {
		t.Fatalf("loading %s: %v", composeFile, err)
	}
	return p
}

// composeService returns one service of the project or stops the test.
func composeService(t *testing.T, name string) types.ServiceConfig {
	t.Helper()
	s, err := composeProject(t).GetService(name)
	if err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return s
}

// environment returns a variable a service sets, with ok false when it does not set it.
func environment(s types.ServiceConfig, name string) (value string, ok bool) {
	v, ok := s.Environment[name]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

func TestComposeFileLoads(t *testing.T) {
	t.Parallel()
	p := composeProject(t)
	for _, name := range []string{"postgres", "btcd", "lnd", "stipendd"} {
		if _, err := p.GetService(name); err != nil {
			t.Errorf("%s: %v", composeFile, err)
		}
	}

	// The top-level version key is obsolete in the Compose specification: the loader only
	// warns about it, so it is caught here.
	data, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if strings.HasPrefix(line, "version:") {
			t.Errorf("%s has a top-level version key, which the Compose specification made obsolete", composeFile)
		}
	}
}

// TestComposeBuildsTheDockerfiles checks that each service with an image of the repository's
// own builds it, from the repository's root (the btcd and lnd Dockerfiles copy tools/go.mod
// from there), with the Dockerfile that the tests below check.
func TestComposeBuildsTheDockerfiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		service    string
		dockerfile string
	}{
		{service: "stipendd", dockerfile: "Dockerfile"},
		{service: "btcd", dockerfile: "deploy/btcd.Dockerfile"},
		{service: "lnd", dockerfile: "deploy/lnd.Dockerfile"},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			t.Parallel()
			s := composeService(t, tt.service)
			if s.Build == nil {
				t.Fatalf("%s has no build section, so compose would run a stale or missing image", tt.service)
			}
			root, err := filepath.Abs(".")
			if err != nil {
				t.Fatal(err)
			}
			if got := buildContext(s); got != root {
				t.Errorf("%s builds with the context %s, want the repository's root %s", tt.service, got, root)
			}
			want := filepath.Join(root, filepath.FromSlash(tt.dockerfile))
			if got := dockerfilePath(s); got != want {
				t.Errorf("%s builds %s, want %s", tt.service, got, want)
			}
			if _, err := os.Stat(want); err != nil {
				t.Errorf("%s builds from %s: %v", tt.service, want, err)
			}
		})
	}
}

// buildContext returns the absolute build context of a service that has a build section.
func buildContext(s types.ServiceConfig) string {
	dir, err := filepath.Abs(s.Build.Context)
	if err != nil {
		return s.Build.Context
	}
	return dir
}

// dockerfilePath returns the absolute path of the Dockerfile a service builds, which Compose
// takes relative to the build context.
func dockerfilePath(s types.ServiceConfig) string {
	dockerfile := s.Build.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	if !filepath.IsAbs(dockerfile) {
		dockerfile = filepath.Join(buildContext(s), dockerfile)
	}
	return filepath.Clean(dockerfile)
}

// TestComposePorts checks that each service publishes exactly the ports it needs, and that
// every port of every service is published on the loopback address only, because the compose
// file carries development credentials and a regtest node with an unguarded wallet.
func TestComposePorts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		service string
		// ports holds "published:target" pairs, in any order.
		ports []string
	}{
		{service: "postgres", ports: []string{"5432:5432"}},
		// btcd's RPC port, for btcctl or a second lnd on the host.
		{service: "btcd", ports: []string{"18334:18334"}},
		// lnd's gRPC port, for lncli or a stipendd run on the host, and its peer-to-peer port,
		// for a second node on the host to open channels with.
		{service: "lnd", ports: []string{"10009:10009", "9735:9735"}},
		{service: "stipendd", ports: []string{fmt.Sprintf("%d:%d", stipenddPort, stipenddPort)}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			t.Parallel()
			s := composeService(t, tt.service)
			var got []string
			for _, p := range s.Ports {
				got = append(got, fmt.Sprintf("%s:%d", p.Published, p.Target))
			}
			if !sameSet(got, tt.ports) {
				t.Errorf("%s publishes %q, want %q", tt.service, got, tt.ports)
			}
		})
	}

	t.Run("loopback only", func(t *testing.T) {
		t.Parallel()
		for _, s := range composeProject(t).Services {
			for _, p := range s.Ports {
				if p.HostIP != "127.0.0.1" {
					t.Errorf("%s publishes port %d on host address %q, want 127.0.0.1 so that it is not reachable from the network", s.Name, p.Target, p.HostIP)
				}
				if p.Protocol != "" && p.Protocol != "tcp" {
					t.Errorf("%s publishes port %d over %s, want tcp", s.Name, p.Target, p.Protocol)
				}
			}
		}
	})
}

// sameSet reports whether a and b hold the same strings, ignoring order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestComposeHealthchecks checks every service's health check: depends_on waits for them, and
// they are what "docker compose ps" and "up --wait" go by. A service added without one fails.
func TestComposeHealthchecks(t *testing.T) {
	t.Parallel()
	// want holds, for each service, words that its exec-form command must contain, in order.
	want := map[string][]string{
		"postgres": {"pg_isready", "-U", "stipend", "-d", "stipend"},
		"btcd":     {"btcctl", "--regtest", "getblockcount"},
		"lnd":      {"lncli", "--network=regtest", "getinfo"},
		"stipendd": {"stipendd", "healthcheck"},
	}
	for _, s := range composeProject(t).Services {
		t.Run(s.Name, func(t *testing.T) {
			t.Parallel()
			hc := s.HealthCheck
			if hc == nil || hc.Disable || len(hc.Test) == 0 {
				t.Fatalf("%s has no health check", s.Name)
			}
			words, ok := want[s.Name]
			if !ok {
				t.Errorf("%s is a service this test does not know: add what its health check must run", s.Name)
			}
			// The exec form ("CMD") is required: the images built here are distroless and
			// have no shell to run "CMD-SHELL" with.
			if hc.Test[0] != "CMD" {
				t.Errorf("%s health check is %q, want the exec form [\"CMD\", ...]", s.Name, hc.Test)
			} else if !containsInOrder(hc.Test[1:], words) {
				t.Errorf("%s health check runs %q, want it to run %q", s.Name, hc.Test[1:], words)
			}
			// Without these Docker's defaults apply: 30s between checks and no grace period
			// at start, which makes "up --wait" slow and marks a starting service unhealthy.
			for name, set := range map[string]bool{
				"interval":     hc.Interval != nil,
				"timeout":      hc.Timeout != nil,
				"retries":      hc.Retries != nil,
				"start_period": hc.StartPeriod != nil,
			} {
				if !set {
					t.Errorf("%s health check does not set %s", s.Name, name)
				}
			}
		})
	}
}

// containsInOrder reports whether want is a subsequence of got.
func containsInOrder(got, want []string) bool {
	for _, w := range want {
		i := slices.Index(got, w)
		if i < 0 {
			return false
		}
		got = got[i+1:]
	}
	return true
}

// TestComposeDependencies checks that each service waits for what it needs to be healthy, not
// merely started: stipendd migrates the database and dials lnd as it starts, and exits if
// either does not answer; lnd exits if btcd's RPC server does not.
func TestComposeDependencies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		service, dependency string
	}{
		{service: "stipendd", dependency: "postgres"},
		{service: "stipendd", dependency: "lnd"},
		{service: "lnd", dependency: "btcd"},
	}
	for _, tt := range tests {
		t.Run(tt.service+" on "+tt.dependency, func(t *testing.T) {
			t.Parallel()
			dep, ok := composeService(t, tt.service).DependsOn[tt.dependency]
			if !ok {
				t.Fatalf("%s does not depend on %s", tt.service, tt.dependency)
			}
			if dep.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s waits for %s to be %q, want %q", tt.service, tt.dependency, dep.Condition, types.ServiceConditionHealthy)
			}
		})
	}
}

func TestComposeStipenddEnvironment(t *testing.T) {
	t.Parallel()
	s := composeService(t, "stipendd")

	t.Run("STIPEND_DATABASE_URL", func(t *testing.T) {
		t.Parallel()
		raw, ok := environment(s, "STIPEND_DATABASE_URL")
		if !ok {
			t.Fatal("stipendd does not set STIPEND_DATABASE_URL, so it would use SQLite in its volume")
		}
		if !strings.HasPrefix(raw, "postgres://") {
			t.Fatalf("STIPEND_DATABASE_URL = %q, want a postgres:// URL", raw)
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("STIPEND_DATABASE_URL: %v", err)
		}
		// The service name is the host name on the compose network.
		if u.Hostname() != "postgres" {
			t.Errorf("STIPEND_DATABASE_URL points at host %q, want the postgres service", u.Hostname())
		}
		if port := u.Port(); port != "" && port != "5432" {
			t.Errorf("STIPEND_DATABASE_URL points at port %s, want PostgreSQL's 5432 inside the network", port)
		}
		pg := composeService(t, "postgres")
		for variable, got := range map[string]string{
			"POSTGRES_USER":     u.User.Username(),
			"POSTGRES_DB":       strings.TrimPrefix(u.Path, "/"),
			"POSTGRES_PASSWORD": func() string { p, _ := u.User.Password(); return p }(),
		} {
			if want, _ := environment(pg, variable); got != want {
				t.Errorf("STIPEND_DATABASE_URL has %q where postgres's %s is %q", got, variable, want)
			}
		}
	})

	t.Run("STIPEND_LISTEN", func(t *testing.T) {
		t.Parallel()
		listen, ok := environment(s, "STIPEND_LISTEN")
		if !ok {
			t.Fatal("stipendd does not set STIPEND_LISTEN")
		}
		// stipendd's default, 127.0.0.1, cannot be reached through a published port.
		if want := net.JoinHostPort("0.0.0.0", "8402"); listen != want {
			t.Errorf("STIPEND_LISTEN = %q, want %q", listen, want)
		}
	})

	t.Run("STIPEND_LOG_FORMAT", func(t *testing.T) {
		t.Parallel()
		if got, _ := environment(s, "STIPEND_LOG_FORMAT"); got != "json" {
			t.Errorf("STIPEND_LOG_FORMAT = %q, want json for log collectors", got)
		}
	})

	t.Run("STIPEND_LND_HOST", func(t *testing.T) {
		t.Parallel()
		raw, ok := environment(s, "STIPEND_LND_HOST")
		if !ok {
			t.Fatal("stipendd does not set STIPEND_LND_HOST, so it would run without Lightning")
		}
		host, port, err := net.SplitHostPort(raw)
		if err != nil {
			t.Fatalf("STIPEND_LND_HOST = %q: %v", raw, err)
		}
		// The service name is the host name on the compose network.
		if host != "lnd" {
			t.Errorf("STIPEND_LND_HOST points at host %q, want the lnd service", host)
		}
		lnd := composeService(t, "lnd")
		if _, want, err := net.SplitHostPort(oneFlag(t, "lnd", lnd.Command, "rpclisten")); err != nil || port != want {
			t.Errorf("STIPEND_LND_HOST points at port %s, want the port of lnd's --rpclisten, %s", port, want)
		}
		// stipendd verifies lnd's certificate against the name it dials.
		if names := flags(lnd.Command)["tlsextradomain"]; !slices.Contains(names, host) {
			t.Errorf("lnd's TLS certificate names %q (--tlsextradomain), want it to name %q, the host stipendd dials", names, host)
		}
	})

	// The certificate and the macaroon are lnd's own files, read through a mount of lnd's
	// volume, so that they are the ones lnd made and are never out of date.
	lndFiles := []struct {
		variable string
		// inLndDir is where lnd writes the file, relative to its --lnddir, for the network.
		inLndDir func(network string) string
	}{
		{"STIPEND_LND_TLS_CERT", func(string) string { return "tls.cert" }},
		{"STIPEND_LND_MACAROON", func(network string) string {
			return path.Join("data/chain/bitcoin", network, "admin.macaroon")
		}},
	}
	for _, f := range lndFiles {
		t.Run(f.variable, func(t *testing.T) {
			t.Parallel()
			file, ok := environment(s, f.variable)
			if !ok {
				t.Fatalf("stipendd does not set %s", f.variable)
			}
			mount, rel, ok := mountFor(s, file)
			if !ok {
				t.Fatalf("%s = %q is in no volume that stipendd mounts", f.variable, file)
			}
			lnd := composeService(t, "lnd")
			lndDir := oneFlag(t, "lnd", lnd.Command, "lnddir")
			lndMount, lndRel, ok := mountFor(lnd, path.Join(lndDir, "tls.cert"))
			if !ok || lndRel != "tls.cert" {
				t.Fatalf("lnd's --lnddir %s is not the root of a volume", lndDir)
			}
			if mount.Type != types.VolumeTypeVolume || mount.Source != lndMount.Source {
				t.Errorf("%s = %q is in the %s %q, want it in lnd's volume %q", f.variable, file, mount.Type, mount.Source, lndMount.Source)
			}
			// stipendd only reads lnd's files; a writable mount would let it damage lnd's
			// wallet and channel state.
			if !mount.ReadOnly {
				t.Errorf("stipendd mounts lnd's volume %q at %s writable, want read-only", mount.Source, mount.Target)
			}
			network, _ := environment(s, "STIPEND_LND_NETWORK")
			if want := f.inLndDir(network); rel != want {
				t.Errorf("%s = %q is %s in lnd's volume, but lnd writes the file at %s", f.variable, file, rel, want)
			}
		})
	}

	t.Run("lnd's files", func(t *testing.T) {
		t.Parallel()
		// These flags would move lnd's files away from where the paths above expect them.
		lnd := composeService(t, "lnd")
		for _, name := range []string{"datadir", "tlscertpath", "adminmacaroonpath"} {
			if _, set := flags(lnd.Command)[name]; set {
				t.Errorf("lnd sets --%s, which moves its files away from where stipendd looks for them", name)
			}
		}
		// The images run as the same user (TestLightningDockerfiles), which is what lets
		// stipendd into lnd's directories; a user key in the compose file would override it.
		for _, svc := range []types.ServiceConfig{s, lnd} {
			if svc.User != "" {
				t.Errorf("%s runs as user %q, not as its image's user, which stipendd and lnd must share", svc.Name, svc.User)
			}
		}
	})

	t.Run("STIPEND_LND_NETWORK", func(t *testing.T) {
		t.Parallel()
		// stipendd refuses an lnd on another network, and its default is mainnet.
		if got, _ := environment(s, "STIPEND_LND_NETWORK"); got != "regtest" {
			t.Errorf("STIPEND_LND_NETWORK = %q, want regtest, the network lnd runs on", got)
		}
	})

	t.Run("STIPEND_LNURL_INSECURE", func(t *testing.T) {
		t.Parallel()
		// Lightning Address servers of a regtest setup run on plain HTTP and private
		// addresses; the setting is acceptable only because the network is regtest.
		if got, _ := environment(s, "STIPEND_LNURL_INSECURE"); got != "true" {
			t.Errorf("STIPEND_LNURL_INSECURE = %q, want true for regtest", got)
		}
	})
}

// flags returns the "--name=value" and bare "--name" arguments of a command line by name, with
// every value of a repeated flag in order; a bare flag has the value "". Arguments without the
// leading dashes, such as a subcommand, are left out.
func flags(args []string) map[string][]string {
	m := map[string][]string{}
	for _, a := range args {
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			continue
		}
		name, value, _ := strings.Cut(name, "=")
		m[name] = append(m[name], value)
	}
	return m
}

// oneFlag returns the value of a flag that a command line must give exactly once, or stops the
// test.
func oneFlag(t *testing.T, what string, args []string, name string) string {
	t.Helper()
	values := flags(args)[name]
	if len(values) != 1 {
		t.Fatalf("%s gives --%s %d times, want once: %q", what, name, len(values), args)
	}
	return values[0]
}

// healthcheckArgs returns the command of a service's health check, or nothing if it has none
// (TestComposeHealthchecks reports that).
func healthcheckArgs(s types.ServiceConfig) []string {
	if s.HealthCheck == nil {
		return nil
	}
	return s.HealthCheck.Test
}

// mountFor returns the volume of a service whose target holds the file, the deepest one if
// several do, and the file's path inside it.
func mountFor(s types.ServiceConfig, file string) (mount types.ServiceVolumeConfig, rel string, ok bool) {
	file = path.Clean(file)
	for _, v := range s.Volumes {
		r, in := strings.CutPrefix(file, path.Clean(v.Target)+"/")
		if in && (!ok || len(v.Target) > len(mount.Target)) {
			mount, rel, ok = v, r, true
		}
	}
	return mount, rel, ok
}

// TestComposeRegtest checks that everything Lightning runs on regtest, and says so in the same
// way everywhere: a node on another network would refuse its peers, and lnd's --noseedbackup
// and stipendd's STIPEND_LNURL_INSECURE are acceptable on regtest only.
func TestComposeRegtest(t *testing.T) {
	t.Parallel()
	btcd := composeService(t, "btcd")
	lnd := composeService(t, "lnd")
	tests := []struct {
		what string
		args []string
		// want is the flag that selects regtest; others are the flags that would select
		// another network.
		want   string
		others []string
	}{
		{
			what:   "btcd",
			args:   btcd.Command,
			want:   "regtest",
			others: []string{"testnet", "testnet4", "simnet", "signet"},
		},
		{
			what:   "btcd's health check",
			args:   healthcheckArgs(btcd),
			want:   "regtest",
			others: []string{"testnet", "testnet4", "simnet", "signet"},
		},
		{
			what:   "lnd",
			args:   lnd.Command,
			want:   "bitcoin.regtest",
			others: []string{"bitcoin.mainnet", "bitcoin.testnet", "bitcoin.testnet4", "bitcoin.simnet", "bitcoin.signet"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			t.Parallel()
			got := flags(tt.args)
			if v, ok := got[tt.want]; !ok || !slices.Equal(v, []string{""}) {
				t.Errorf("%s does not run with --%s: %q", tt.what, tt.want, tt.args)
			}
			for _, other := range tt.others {
				if _, ok := got[other]; ok {
					t.Errorf("%s runs with --%s besides --%s", tt.what, other, tt.want)
				}
			}
		})
	}

	t.Run("lnd's health check", func(t *testing.T) {
		t.Parallel()
		if got := oneFlag(t, "lnd's health check", healthcheckArgs(lnd), "network"); got != "regtest" {
			t.Errorf("lnd's health check runs lncli with --network=%s, want regtest", got)
		}
	})

	t.Run("btcd's mining address", func(t *testing.T) {
		t.Parallel()
		// The address is a variable, so this checks its default: btcd refuses to start with
		// an address of another network.
		raw := oneFlag(t, "btcd", btcd.Command, "miningaddr")
		addr, err := btcutil.DecodeAddress(raw, &chaincfg.RegressionNetParams)
		if err != nil {
			t.Fatalf("btcd's --miningaddr %q: %v", raw, err)
		}
		if !addr.IsForNet(&chaincfg.RegressionNetParams) {
			t.Errorf("btcd's --miningaddr %q is not a regtest address", raw)
		}
	})
}

// TestComposeLndReachesBtcd checks the settings lnd and btcd must agree on for lnd to reach
// btcd's RPC server and trust its certificate, and those the health checks share with them.
func TestComposeLndReachesBtcd(t *testing.T) {
	t.Parallel()
	btcd := composeService(t, "btcd")
	lnd := composeService(t, "lnd")
	btcdFlags := func(name string) string { return oneFlag(t, "btcd", btcd.Command, name) }
	lndFlags := func(name string) string { return oneFlag(t, "lnd", lnd.Command, name) }

	rpcHost, rpcPort, err := net.SplitHostPort(lndFlags("btcd.rpchost"))
	if err != nil {
		t.Fatalf("lnd's --btcd.rpchost: %v", err)
	}
	_, listenPort, err := net.SplitHostPort(btcdFlags("rpclisten"))
	if err != nil {
		t.Fatalf("btcd's --rpclisten: %v", err)
	}
	lndDir := lndFlags("lnddir")

	tests := []struct {
		what      string
		got, want string
	}{
		{"lnd's --bitcoin.node", lndFlags("bitcoin.node"), "btcd"},
		// The service name is the host name on the compose network, and btcd can put no name
		// in its generated certificate but the container's host name.
		{"lnd's --btcd.rpchost host", rpcHost, "btcd"},
		{"btcd's hostname, the name in its RPC certificate", btcd.Hostname, rpcHost},
		{"lnd's --btcd.rpchost port", rpcPort, listenPort},
		{"lnd's --btcd.rpcuser", lndFlags("btcd.rpcuser"), btcdFlags("rpcuser")},
		{"lnd's --btcd.rpcpass", lndFlags("btcd.rpcpass"), btcdFlags("rpcpass")},
		// lnd's btcd backend looks transactions up by hash.
		{"btcd's --txindex", btcdFlags("txindex"), ""},
		{"btcd's health check --rpcuser", oneFlag(t, "btcd's health check", healthcheckArgs(btcd), "rpcuser"), btcdFlags("rpcuser")},
		{"btcd's health check --rpcpass", oneFlag(t, "btcd's health check", healthcheckArgs(btcd), "rpcpass"), btcdFlags("rpcpass")},
		{"btcd's health check --rpccert", oneFlag(t, "btcd's health check", healthcheckArgs(btcd), "rpccert"), btcdFlags("rpccert")},
		{"lnd's health check --tlscertpath", oneFlag(t, "lnd's health check", healthcheckArgs(lnd), "tlscertpath"), path.Join(lndDir, "tls.cert")},
		{"lnd's health check --macaroonpath", oneFlag(t, "lnd's health check", healthcheckArgs(lnd), "macaroonpath"), path.Join(lndDir, "data/chain/bitcoin/regtest/admin.macaroon")},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s is %q, want %q", tt.what, tt.got, tt.want)
		}
	}

	// lnd reads btcd's certificate from the volume btcd writes it to, so that it is always the
	// one btcd serves.
	btcdMount, certRel, ok := mountFor(btcd, btcdFlags("rpccert"))
	if !ok {
		t.Fatalf("btcd's --rpccert %s is in no volume, so lnd cannot read it", btcdFlags("rpccert"))
	}
	lndMount, lndRel, ok := mountFor(lnd, lndFlags("btcd.rpccert"))
	if !ok {
		t.Fatalf("lnd's --btcd.rpccert %s is in no volume", lndFlags("btcd.rpccert"))
	}
	if lndMount.Type != types.VolumeTypeVolume || lndMount.Source != btcdMount.Source || lndRel != certRel {
		t.Errorf("lnd reads btcd's certificate as %s in %q, but btcd writes it as %s in %q", lndRel, lndMount.Source, certRel, btcdMount.Source)
	}
	if !lndMount.ReadOnly {
		t.Errorf("lnd mounts btcd's volume %q writable, want read-only", lndMount.Source)
	}
}

func TestComposeStipenddLifecycle(t *testing.T) {
	t.Parallel()
	s := composeService(t, "stipendd")
	if s.Restart != types.RestartPolicyUnlessStopped {
		t.Errorf("stipendd restart policy is %q, want %q", s.Restart, types.RestartPolicyUnlessStopped)
	}
	// Docker sends SIGKILL after stop_grace_period (10s unless set), which would cut the
	// server's graceful shutdown short.
	grace := 10 * time.Second
	if s.StopGracePeriod != nil {
		grace = time.Duration(*s.StopGracePeriod)
	}
	shutdown := defaultShutdownTimeout
	if v, ok := environment(s, "STIPEND_SHUTDOWN_TIMEOUT"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("STIPEND_SHUTDOWN_TIMEOUT: %v", err)
		}
		shutdown = d
	}
	if grace <= shutdown {
		t.Errorf("stipendd stop_grace_period is %v, want more than its shutdown timeout of %v", grace, shutdown)
	}
}

// dockerInstruction is one instruction of a Dockerfile, its continuation lines joined.
type dockerInstruction struct {
	keyword string // upper case, such as "RUN"
	args    string
	line    int
}

// dockerStage is the instructions from one FROM up to the next.
type dockerStage struct {
	from         string
	instructions []dockerInstruction
}

// find returns the arguments of the stage's instructions with the keyword, in order.
func (s dockerStage) find(keyword string) []string {
	var args []string
	for _, in := range s.instructions {
		if in.keyword == keyword {
			args = append(args, in.args)
		}
	}
	return args
}

// env returns the variables the stage's ENV instructions set. It understands the unquoted
// KEY=value form only, which is all the Dockerfile uses.
func (s dockerStage) env() map[string]string {
	vars := map[string]string{}
	for _, args := range s.find("ENV") {
		for _, f := range strings.Fields(args) {
			if k, v, ok := strings.Cut(f, "="); ok {
				vars[k] = v
			}
		}
	}
	return vars
}

// parseDockerfile splits a Dockerfile into stages. It is deliberately light (no heredocs, no
// escape directive) and is meant only to let the checks below look at the right stage.
func parseDockerfile(t *testing.T, name string) []dockerStage {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var (
		stages  []dockerStage
		pending strings.Builder
		start   int
	)
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		// Comment lines end nothing, even in the middle of a continued instruction.
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if pending.Len() == 0 {
			start = i + 1
		}
		body, continued := strings.CutSuffix(trimmed, `\`)
		pending.WriteString(body)
		pending.WriteByte(' ')
		if continued {
			continue
		}
		keyword, args, _ := strings.Cut(strings.TrimSpace(pending.String()), " ")
		pending.Reset()
		in := dockerInstruction{keyword: strings.ToUpper(keyword), args: strings.Join(strings.Fields(args), " "), line: start}
		if in.keyword == "FROM" {
			stages = append(stages, dockerStage{from: in.args})
			continue
		}
		if len(stages) == 0 {
			if in.keyword != "ARG" {
				t.Fatalf("%s:%d: %s before the first FROM", name, in.line, in.keyword)
			}
			continue
		}
		stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, in)
	}
	if pending.Len() > 0 {
		t.Fatalf("%s ends in a continued line", name)
	}
	if len(stages) == 0 {
		t.Fatalf("%s has no FROM", name)
	}
	return stages
}

// TestDockerfile checks the Dockerfile's build stage (the one that runs "go build") and its last
// stage, the image that runs.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	stages := parseDockerfile(t, "Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stage, want a build stage and a small runtime stage", len(stages))
	}
	final := stages[len(stages)-1]
	var build dockerStage
	var goBuild string
	for _, s := range stages[:len(stages)-1] {
		for _, run := range s.find("RUN") {
			if strings.Contains(run, "go build") {
				build, goBuild = s, run
			}
		}
	}
	if goBuild == "" {
		t.Fatal("no stage before the last runs go build")
	}

	tests := []struct {
		name string
		ok   bool
		why  string
	}{
		{
			name: "builds stipendd",
			ok:   strings.Contains(goBuild, "./cmd/stipendd"),
			why:  "the image is for the server",
		},
		{
			name: "CGO_ENABLED=0",
			ok:   strings.Contains(goBuild, "CGO_ENABLED=0") || build.env()["CGO_ENABLED"] == "0",
			why:  "the runtime image has no C library, and the SQLite and PostgreSQL drivers need none",
		},
		{
			name: "stamps the version",
			ok:   strings.Contains(goBuild, "-X main.buildVersion="),
			why:  "without .git in the build context the binary cannot find its version itself",
		},
		{
			name: "runtime image is not the build image",
			ok:   final.from != build.from,
			why:  "the Go toolchain has no place in the image that runs",
		},
		{
			name: "non-root USER",
			ok: func() bool {
				users := final.find("USER")
				if len(users) == 0 {
					return false
				}
				user, _, _ := strings.Cut(users[len(users)-1], ":")
				return user != "root" && user != "0"
			}(),
			why: "a compromised server should not be root in its container",
		},
		{
			name: "EXPOSE 8402",
			ok: slices.ContainsFunc(final.find("EXPOSE"), func(args string) bool {
				return slices.Contains(strings.Fields(args), "8402") || slices.Contains(strings.Fields(args), "8402/tcp")
			}),
			why: "8402 is the port STIPEND_LISTEN binds",
		},
		{
			name: "HEALTHCHECK runs stipendd healthcheck in exec form",
			ok: slices.ContainsFunc(final.find("HEALTHCHECK"), func(args string) bool {
				_, cmd, ok := strings.Cut(args, "CMD ")
				return ok && strings.HasPrefix(strings.TrimSpace(cmd), "[") &&
					strings.Contains(cmd, "stipendd") && strings.Contains(cmd, `"healthcheck"`)
			}),
			why: "the distroless image has no shell for the shell form",
		},
		{
			name: "STIPEND_LISTEN=0.0.0.0:8402",
			ok:   final.env()["STIPEND_LISTEN"] == "0.0.0.0:8402",
			why:  "the default 127.0.0.1 cannot be reached through a published port",
		},
		{
			name: "STIPEND_DATA_DIR=/data",
			ok:   final.env()["STIPEND_DATA_DIR"] == "/data" && slices.ContainsFunc(final.find("VOLUME"), func(args string) bool { return strings.Contains(args, "/data") }),
			why:  "the SQLite database must live in a volume, not in the container's writable layer",
		},
		{
			name: "ENTRYPOINT stipendd",
			ok: slices.ContainsFunc(final.find("ENTRYPOINT"), func(args string) bool {
				return strings.Contains(args, "stipendd")
			}),
			why: "docker run IMAGE migrate should run stipendd migrate",
		},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("Dockerfile: want %s: %s", tt.name, tt.why)
		}
	}
}

// TestDockerfileContext checks .dockerignore: it must keep the repository's history and local
// secrets out of the build context, and must not drop anything "go build" needs.
func TestDockerfileContext(t *testing.T) {
	t.Parallel()
	patterns := readDockerignore(t, ".dockerignore")
	tests := []struct {
		path     string
		excluded bool
	}{
		{".git/HEAD", true},
		{".env", true},
		{"data/stipend.db", true},
		{"stipendd", true},
		{"go.mod", false},
		{"go.sum", false},
		{"errors.go", false},
		{"cmd/stipendd/main.go", false},
		{"cmd/stipend/main.go", false},
		{"migrations/00001_foundation.sql", false},
		// A builder that does not read the ignore files next to the btcd and lnd Dockerfiles
		// falls back on this one for them, and they need the tools module.
		{"tools/go.mod", false},
		{"tools/go.sum", false},
		{"deploy/lnd.Dockerfile", true},
	}
	for _, tt := range tests {
		if got := dockerignored(patterns, tt.path); got != tt.excluded {
			t.Errorf(".dockerignore excludes %s: %v, want %v", tt.path, got, tt.excluded)
		}
	}
}

// readDockerignore returns the patterns of a .dockerignore file.
func readDockerignore(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	return patterns
}

// TestLightningDockerfiles checks how the btcd and lnd images are made: from the tools module,
// so that they run the versions that tools/go.mod pins (the ones the regtest tests run), with
// no way for the build to pick up other versions, and as the same user as stipendd.
func TestLightningDockerfiles(t *testing.T) {
	t.Parallel()
	tools := readToolsModule(t)
	var lndTags []string
	for _, tag := range regtest.BuildTags {
		if tag != "integration" {
			lndTags = append(lndTags, tag)
		}
	}
	tests := []struct {
		service string
		module  string
		// packages are what the build must produce, each from the module.
		packages []string
		// tags are the build tags the binaries must have, exactly.
		tags []string
	}{
		{
			service:  "btcd",
			module:   btcdModule,
			packages: []string{"github.com/btcsuite/btcd", "github.com/btcsuite/btcd/cmd/btcctl"},
		},
		{
			service:  "lnd",
			module:   lndModule,
			packages: []string{"github.com/lightningnetwork/lnd/cmd/lnd", "github.com/lightningnetwork/lnd/cmd/lncli"},
			// The sub-servers of the lnd the tests run, which stipendd uses, but not
			// "integration", which weakens the wallet's key derivation for quick tests.
			tags: lndTags,
		},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			t.Parallel()
			// The image is built rather than pulled (lightninglabs/lnd, say), because an
			// image tag would be a second pin to keep in step with tools/go.mod by hand.
			s := composeService(t, tt.service)
			if s.Build == nil {
				t.Fatalf("%s runs the image %q, want a build of the tools module", tt.service, s.Image)
			}
			if _, ok := tools.requires[tt.module]; !ok {
				t.Fatalf("tools/go.mod does not require %s, so it pins no version of it", tt.module)
			}
			checkToolsBuild(t, dockerfilePath(s), tools, tt.module, tt.packages, tt.tags)
		})
	}
}

// checkToolsBuild checks a Dockerfile that builds packages of a module from the tools module.
func checkToolsBuild(t *testing.T, dockerfile string, tools toolsModule, module string, packages, tags []string) {
	t.Helper()
	name := dockerfile
	if root, err := filepath.Abs("."); err == nil {
		if rel, err := filepath.Rel(root, dockerfile); err == nil {
			name = filepath.ToSlash(rel)
		}
	}
	stages := parseDockerfile(t, dockerfile)
	if len(stages) < 2 {
		t.Fatalf("%s has %d stage, want a build stage and a small runtime stage", name, len(stages))
	}
	final := stages[len(stages)-1]
	stipenddUser := finalUser(parseDockerfile(t, "Dockerfile"))
	var (
		build   dockerStage
		goBuild string
		workdir string
	)
	for _, s := range stages[:len(stages)-1] {
		dir := ""
		for _, in := range s.instructions {
			switch {
			case in.keyword == "WORKDIR":
				dir = path.Join(dir, in.args)
			case in.keyword == "RUN" && strings.Contains(in.args, "go build"):
				build, goBuild, workdir = s, in.args, dir
			}
		}
	}
	if goBuild == "" {
		t.Fatalf("no stage of %s before the last runs go build", name)
	}
	fields := strings.Fields(goBuild)

	for _, pkg := range packages {
		if !slices.Contains(fields, pkg) {
			t.Errorf("%s does not build %s", name, pkg)
		}
		if pkg != module && !strings.HasPrefix(pkg, module+"/") {
			t.Errorf("%s: %s is not a package of %s", name, pkg, module)
		}
	}
	// btcctl is no tool of its own, but a package of btcd's module, which is.
	if !slices.ContainsFunc(tools.tools, func(tool string) bool { return tool == module || strings.HasPrefix(tool, module+"/") }) {
		t.Errorf("tools/go.mod has no tool directive for a package of %s", module)
	}

	checks := []struct {
		name string
		ok   bool
		why  string
	}{
		{
			name: "copies tools/go.mod and tools/go.sum",
			ok: slices.ContainsFunc(build.find("COPY"), func(args string) bool {
				return strings.Contains(args, "tools/go.mod") && strings.Contains(args, "tools/go.sum")
			}),
			why: "they are the pins",
		},
		{
			name: "builds in the tools module",
			ok:   path.Base(workdir) == "tools" || strings.Contains(goBuild, "cd tools"),
			why:  "outside it, go build would resolve other versions, or none",
		},
		{
			name: "no version in the package paths",
			ok:   !strings.Contains(goBuild, module+"@") && !strings.Contains(goBuild, "go install"),
			why:  "a package@version would bypass the pins",
		},
		{
			name: "no module changes",
			ok: !slices.ContainsFunc(build.find("RUN"), func(args string) bool {
				return strings.Contains(args, "go get") || strings.Contains(args, "-mod=mod") || strings.Contains(args, "go mod tidy")
			}),
			why: "go get, go mod tidy and -mod=mod can move a pinned version",
		},
		{
			name: "CGO_ENABLED=0",
			ok:   strings.Contains(goBuild, "CGO_ENABLED=0") || build.env()["CGO_ENABLED"] == "0",
			why:  "the runtime image has no C library",
		},
		{
			name: "runtime image is not the build image",
			ok:   final.from != build.from,
			why:  "the Go toolchain has no place in the image that runs",
		},
		{
			// stipendd reads lnd's macaroon and certificate from lnd's volume, in directories
			// that lnd makes with mode 0700.
			name: "the USER of stipendd's image, " + stipenddUser,
			ok:   finalUser(stages) == stipenddUser && stipenddUser != "" && stipenddUser != "root" && stipenddUser != "0",
			why:  "stipendd must be able to read lnd's files, and neither should run as root",
		},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: want %s: %s", name, c.name, c.why)
		}
	}

	got := buildTags(goBuild)
	if slices.Contains(got, "integration") {
		t.Errorf("%s builds with the integration tag, which is for the tests only", name)
	}
	if tags != nil && !sameSet(got, tags) {
		t.Errorf("%s builds with the tags %q, want %q", name, got, tags)
	}
}

// finalUser returns the user, without the group, that the last stage of a Dockerfile runs as,
// or "" if it sets none (and so runs as root).
func finalUser(stages []dockerStage) string {
	users := stages[len(stages)-1].find("USER")
	if len(users) == 0 {
		return ""
	}
	user, _, _ := strings.Cut(users[len(users)-1], ":")
	return user
}

// buildTagsPattern matches a go build -tags argument, quoted or not.
var buildTagsPattern = regexp.MustCompile(`-tags[= ](?:"([^"]*)"|'([^']*)'|(\S+))`)

// buildTags returns the build tags of a go build command line, which go takes separated by
// commas or, in the older form, spaces.
func buildTags(goBuild string) []string {
	var tags []string
	for _, m := range buildTagsPattern.FindAllStringSubmatch(goBuild, -1) {
		list := m[1] + m[2] + m[3]
		tags = append(tags, strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' })...)
	}
	return tags
}

// toolsModule is what the tests need of tools/go.mod.
type toolsModule struct {
	tools    []string          // the tool directives' packages
	requires map[string]string // module path → version
}

// readToolsModule reads tools/go.mod. It understands the directives' single-line and block
// forms, which is all go mod tidy writes, and ignores the others.
func readToolsModule(t *testing.T) toolsModule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("tools", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := toolsModule{requires: map[string]string{}}
	block := ""
	for line := range strings.Lines(string(data)) {
		line, _, _ = strings.Cut(line, "//")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			continue
		case block != "" && f[0] == ")":
			block = ""
			continue
		case block == "" && len(f) == 2 && f[1] == "(":
			block = f[0]
			continue
		case block != "":
			f = append([]string{block}, f...)
		}
		switch {
		case f[0] == "tool" && len(f) == 2:
			m.tools = append(m.tools, f[1])
		case f[0] == "require" && len(f) == 3:
			m.requires[f[1]] = f[2]
		}
	}
	if len(m.tools) == 0 || len(m.requires) == 0 {
		t.Fatalf("tools/go.mod has %d tool directives and %d requirements: it did not parse", len(m.tools), len(m.requires))
	}
	return m
}

// TestLightningDockerfileContexts checks the ignore files that BuildKit uses, instead of the
// repository's .dockerignore, for the btcd and lnd Dockerfiles: those builds need the tools
// module's go.mod and go.sum from the repository's root, and nothing else.
func TestLightningDockerfileContexts(t *testing.T) {
	t.Parallel()
	for _, dockerfile := range []string{"deploy/btcd.Dockerfile", "deploy/lnd.Dockerfile"} {
		t.Run(dockerfile, func(t *testing.T) {
			t.Parallel()
			patterns := readDockerignore(t, dockerfile+".dockerignore")
			tests := []struct {
				path     string
				excluded bool
			}{
				{"tools/go.mod", false},
				{"tools/go.sum", false},
				{".git/HEAD", true},
				{".env", true},
				{"data/stipend.db", true},
				{"go.mod", true},
				{"cmd/stipendd/main.go", true},
			}
			for _, tt := range tests {
				if got := dockerignored(patterns, tt.path); got != tt.excluded {
					t.Errorf("%s.dockerignore excludes %s: %v, want %v", dockerfile, tt.path, got, tt.excluded)
				}
			}
		})
	}
}

// dockerignored approximates Docker's matching of a path in the build context: the last
// pattern that matches the path or one of its parent directories decides, "!" re-includes, and
// "**" matches any number of directories.
func dockerignored(patterns []string, name string) bool {
	excluded := false
	for _, p := range patterns {
		negate := strings.HasPrefix(p, "!")
		p = path.Clean(strings.TrimPrefix(strings.TrimPrefix(p, "!"), "/"))
		for dir := name; dir != "."; dir = path.Dir(dir) {
			if globMatch(p, dir) {
				excluded = !negate
				break
			}
		}
	}
	return excluded
}

// globMatch is path.Match with a leading "**/" that matches any number of directories.
func globMatch(pattern, name string) bool {
	if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
		for {
			if globMatch(rest, name) {
				return true
			}
			_, after, ok := strings.Cut(name, "/")
			if !ok {
				return false
			}
			name = after
		}
	}
	ok, _ := path.Match(pattern, name)
	return ok
}
