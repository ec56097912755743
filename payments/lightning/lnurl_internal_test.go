package lightning

import (
	"net/netip"
	"testing"
)

// TestPublicAddrRefusesEverythingButThePublicInternet lists the addresses a user-named LNURL
// service must never make the server call: its own machine, its networks, and the special
// ranges where clouds keep their metadata services.
func TestPublicAddrRefusesEverythingButThePublicInternet(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"1.1.1.1": true, "8.8.8.8": true, "2606:4700::1111": true,
		"127.0.0.1": false, "::1": false, "10.0.0.1": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "100.100.100.200": false, "0.0.0.0": false, "::": false, "fc00::1": false,
		"fe80::1": false, "224.0.0.1": false, "255.255.255.255": false, "64:ff9b::a9fe:a9fe": false,
		"::ffff:127.0.0.1": false, "::ffff:169.254.169.254": false, "198.18.0.1": false, "192.0.2.1": false,
	} {
		if got := publicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}
