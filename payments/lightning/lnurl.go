package lightning

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/btcutil/bech32"

	"github.com/stipend/stipend"
)

// Resolver turns a Lightning Address (LUD-16, user@domain) or an LNURL-pay link (LUD-06,
// "lnurl1…") into a BOLT11 invoice for an exact amount, and checks the invoice against what
// the LNURL service promised: the amount and the hash of its metadata.
type Resolver struct {
	Network string
	// AllowInsecure permits plain HTTP and addresses on private networks, for tests and
	// regtest deployments only. Without it, a user-supplied address can make the server call
	// neither its own network nor anything but HTTPS.
	AllowInsecure bool
	Timeout       time.Duration

	once sync.Once
	http *http.Client
}

// payParams is the first LNURL-pay response (LUD-06).
type payParams struct {
	Tag            string `json:"tag"`
	Callback       string `json:"callback"`
	MinSendable    int64  `json:"minSendable"`
	MaxSendable    int64  `json:"maxSendable"`
	Metadata       string `json:"metadata"`
	Status         string `json:"status"`
	Reason         string `json:"reason"`
	CommentAllowed int    `json:"commentAllowed"`
}

// payResult is the callback's response.
type payResult struct {
	PR     string `json:"pr"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// IsLightningAddress reports whether s has the form of a Lightning Address.
func IsLightningAddress(s string) bool {
	user, domain, ok := strings.Cut(s, "@")
	return ok && user != "" && domain != "" && !strings.ContainsAny(s, " /?#")
}

// IsLNURL reports whether s is a bech32 LNURL.
func IsLNURL(s string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimPrefix(s, "lightning:")), "lnurl1")
}

// Resolve fetches an invoice of amountMsat from a Lightning Address or LNURL-pay link.
//
// Returns EINVALID (malformed destination, an amount the service does not accept, an
// invoice that does not match) and EUNAVAILABLE (the service could not be reached).
func (r *Resolver) Resolve(ctx context.Context, destination string, amountMsat int64) (string, *DecodedInvoice, error) {
	u, err := r.payURL(destination)
	if err != nil {
		return "", nil, err
	}
	var params payParams
	if err := r.getJSON(ctx, u, &params); err != nil {
		return "", nil, err
	}
	if strings.EqualFold(params.Status, "ERROR") {
		return "", nil, stipend.Errorf(stipend.EINVALID, "destination: the LNURL service refused: %s", clipText(params.Reason))
	}
	if params.Tag != "payRequest" {
		return "", nil, stipend.Errorf(stipend.EINVALID, "destination: not an LNURL-pay service")
	}
	if amountMsat < params.MinSendable || amountMsat > params.MaxSendable {
		return "", nil, stipend.Errorf(stipend.EINVALID, "amount: the destination accepts %d to %d msat", params.MinSendable, params.MaxSendable)
	}
	cb, err := url.Parse(params.Callback)
	if err != nil || !r.schemeAllowed(cb) {
		return "", nil, stipend.Errorf(stipend.EINVALID, "destination: the LNURL service gave an invalid callback")
	}
	q := cb.Query()
	q.Set("amount", strconv.FormatInt(amountMsat, 10))
	cb.RawQuery = q.Encode()
	var res payResult
	if err := r.getJSON(ctx, cb, &res); err != nil {
		return "", nil, err
	}
	if strings.EqualFold(res.Status, "ERROR") || res.PR == "" {
		return "", nil, stipend.Errorf(stipend.EINVALID, "destination: the LNURL service gave no invoice: %s", clipText(res.Reason))
	}
	inv, err := DecodeInvoice(res.PR, r.Network)
	if err != nil {
		return "", nil, err
	}
	if inv.AmountMsat != amountMsat {
		return "", nil, stipend.Errorf(stipend.EINVALID, "destination: the LNURL service's invoice is for %d msat, not %d", inv.AmountMsat, amountMsat)
	}
	sum := sha256.Sum256([]byte(params.Metadata))
	if inv.DescriptionHash != hex.EncodeToString(sum[:]) {
		return "", nil, stipend.Errorf(stipend.EINVALID, "destination: the LNURL service's invoice does not commit to its metadata")
	}
	return res.PR, inv, nil
}

// payURL is the first URL to fetch for a destination.
func (r *Resolver) payURL(destination string) (*url.URL, error) {
	destination = strings.TrimSpace(destination)
	switch {
	case IsLNURL(destination):
		hrp, data, err := bech32.DecodeNoLimit(strings.ToLower(strings.TrimPrefix(destination, "lightning:")))
		if err != nil || hrp != "lnurl" {
			return nil, stipend.Errorf(stipend.EINVALID, "destination: not a valid LNURL")
		}
		raw, err := bech32.ConvertBits(data, 5, 8, false)
		if err != nil {
			return nil, stipend.Errorf(stipend.EINVALID, "destination: not a valid LNURL")
		}
		u, err := url.Parse(string(raw))
		if err != nil || !r.schemeAllowed(u) || u.Host == "" {
			return nil, stipend.Errorf(stipend.EINVALID, "destination: the LNURL holds no usable URL")
		}
		return u, nil
	case IsLightningAddress(destination):
		user, domain, _ := strings.Cut(strings.ToLower(destination), "@")
		for _, c := range user {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '+') {
				return nil, stipend.Errorf(stipend.EINVALID, "destination: not a valid Lightning Address")
			}
		}
		scheme := "https"
		if r.AllowInsecure {
			scheme = "http"
		}
		u := &url.URL{Scheme: scheme, Host: domain, Path: "/.well-known/lnurlp/" + user}
		if u.Hostname() == "" {
			return nil, stipend.Errorf(stipend.EINVALID, "destination: not a valid Lightning Address")
		}
		return u, nil
	}
	return nil, stipend.Errorf(stipend.EINVALID, "destination: not a Lightning Address or LNURL")
}

func (r *Resolver) schemeAllowed(u *url.URL) bool {
	return u.Scheme == "https" || (r.AllowInsecure && u.Scheme == "http")
}

// getJSON fetches a small JSON document through a client that, unless AllowInsecure, will not
// connect to loopback, private or link-local addresses.
func (r *Resolver) getJSON(ctx context.Context, u *url.URL, v any) error {
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return stipend.Errorf(stipend.EINVALID, "destination: invalid URL")
	}
	req.Header.Set("Accept", "application/json")
	r.once.Do(func() { r.http = r.newClient() })
	resp, err := r.http.Do(req)
	if err != nil {
		return &stipend.Error{Code: stipend.EUNAVAILABLE, Message: "the destination's LNURL service could not be reached", Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return &stipend.Error{Code: stipend.EUNAVAILABLE, Message: "the destination's LNURL service could not be read", Err: err}
	}
	switch {
	case resp.StatusCode >= 500:
		return stipend.Errorf(stipend.EUNAVAILABLE, "the destination's LNURL service failed (%s)", resp.Status)
	case resp.StatusCode != http.StatusOK:
		return stipend.Errorf(stipend.EINVALID, "destination: the LNURL service answered %s", resp.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return stipend.Errorf(stipend.EINVALID, "destination: the LNURL service's answer is not valid JSON")
	}
	return nil
}

// newClient makes the resolver's one HTTP client. It keeps no idle connections, so that
// services named by users cannot hold the server's sockets open.
func (r *Resolver) newClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !r.AllowInsecure {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			if !publicAddr(ap.Addr()) {
				return fmt.Errorf("refusing to connect to %s", ap.Addr())
			}
			return nil
		}
	}
	return &http.Client{
		Transport: &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: 5 * time.Second, Proxy: nil,
			DisableKeepAlives: true, MaxResponseHeaderBytes: 16 << 10},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 || !r.schemeAllowed(req.URL) {
				return fmt.Errorf("redirect refused")
			}
			return nil
		},
	}
}

// nonPublic are ranges that net/netip does not classify but that are not the public internet:
// carrier-grade NAT (which hosts some clouds' metadata services), NAT64, benchmarking,
// documentation and reserved space.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// publicAddr reports whether a user-named service may be reached at addr.
func publicAddr(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsGlobalUnicast() || addr.IsPrivate() || addr.IsLoopback() || addr.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

func clipText(s string) string {
	if err := stipend.CheckText("reason", s, 200, true); err != nil {
		return "(unprintable)"
	}
	return s
}
