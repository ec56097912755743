// Package safehttp makes the HTTP client that calls URLs chosen by users (providers'
// upstreams): it refuses to connect to loopback, private, link-local and other non-public
// addresses unless told otherwise, checked on the address actually dialled so that a DNS name
// that resolves (or later re-resolves) to an internal address is refused too, and it never
// follows redirects.
package safehttp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Options tune the client.
type Options struct {
	// AllowPrivate allows loopback and private addresses: for development and tests, and for
	// deployments whose providers run inside the same network.
	AllowPrivate bool
	// Timeout bounds a whole call, the response body included.
	Timeout time.Duration
}

// NewClient returns the client.
func NewClient(o Options) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !o.AllowPrivate {
		d.Control = refusePrivate
	}
	t := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
	}
	return &http.Client{
		Transport: t,
		Timeout:   o.Timeout,
		// A redirect is relayed to the caller as it is: following it would let an upstream
		// send Stipend to an address the dial check never saw.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// refusePrivate is a dialer Control that refuses every address that is not a public unicast
// one.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("safehttp: unparseable address %q", address)
	}
	if !Public(ap.Addr()) {
		return fmt.Errorf("safehttp: %s is not a public address", ap.Addr())
	}
	return nil
}

// Public reports whether a is a public unicast address.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() &&
		!a.IsMulticast() && !a.IsUnspecified() && !sharedOrReserved(a)
}

var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // this network
	netip.MustParsePrefix("::/96"),         // IPv4-compatible, deprecated
	netip.MustParsePrefix("2002::/16"),     // 6to4, which can embed any IPv4 address
	netip.MustParsePrefix("2001::/32"),     // Teredo, likewise
	netip.MustParsePrefix("fec0::/10"),     // site-local, deprecated
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64, which can reach private IPv4
	netip.MustParsePrefix("2001:db8::/32"), // documentation
}

func sharedOrReserved(a netip.Addr) bool {
	for _, p := range reserved {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
