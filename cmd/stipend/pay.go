package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/api/wire"
	"github.com/stipend/stipend/client"
	"github.com/stipend/stipend/payments/ledger"
	"github.com/stipend/stipend/payments/lightning"
	"github.com/stipend/stipend/payments/lightning/lnd"
)

// headerFlags collects repeated -H 'Name: value' flags.
type headerFlags []string

func (h *headerFlags) String() string { return strings.Join(*h, ", ") }

func (h *headerFlags) Set(s string) error {
	*h = append(*h, s)
	return nil
}

const paySynopsis = "pay URL [--max-price AMOUNT] [--method l402|payment|credits] [-X METHOD] [-d BODY] [-H 'Name: value']...\n" +
	"       [--lnd-host HOST:PORT --lnd-cert FILE --lnd-macaroon FILE [--lnd-network N] | --from-balance]\n" +
	"       [--max-fee AMOUNT] [--idempotency-key K] [--timeout D]\n\n" +
	"Calls URL and pays what a 402 Payment Required asks, up to --max-price: by L402 or the Payment\n" +
	"scheme from your lnd (--lnd-*, or STIPEND_PAY_LND_HOST, STIPEND_PAY_LND_TLS_CERT, STIPEND_PAY_LND_MACAROON,\n" +
	"STIPEND_PAY_LND_NETWORK) or your Stipend balance (--from-balance), or with credits on the Stipend\n" +
	"server itself (your API key). Payments are recorded in $STIPEND_STATE_DIR (default: the user\n" +
	"config directory's stipend/) before they are made, so a run interrupted mid-payment is tracked,\n" +
	"never paid twice, by running the same command again. The response body goes to stdout, the\n" +
	"receipt to stderr; the exit status is 1 unless the final answer is 2xx."

// payTimeout is how long "pay" may take in all, paying included, unless --timeout says.
const payTimeout = 5 * time.Minute

func cmdPay(ctx context.Context, e *env, name string, args []string) error {
	fs := e.flagSet(name)
	maxPrice := fs.String("max-price", "", "the most one call may cost, an `AMOUNT` such as \"100 sat\" (required unless --method credits)")
	maxFee := fs.String("max-fee", "", "the most a payment's routing may cost, an `AMOUNT` (default: 1% of the price, at least 10 sat)")
	method := fs.String("method", "", "pay only by this `method`: l402, payment or credits (default: l402, then payment, then credits)")
	httpMethod := fs.String("X", "", "the HTTP `METHOD` (default: GET, or POST with -d)")
	data := fs.String("d", "", "the request `BODY`; @FILE reads a file and @- stdin (Content-Type defaults to application/json)")
	var headers headerFlags
	fs.Var(&headers, "H", "a request `header` 'Name: value'; may be repeated")
	lndHost := fs.String("lnd-host", "", "pay from your lnd at `HOST:PORT` (env STIPEND_PAY_LND_HOST)")
	lndCert := fs.String("lnd-cert", "", "your lnd's tls.cert `FILE` (env STIPEND_PAY_LND_TLS_CERT)")
	lndMacaroon := fs.String("lnd-macaroon", "", "a macaroon `FILE` of your lnd that may pay (env STIPEND_PAY_LND_MACAROON)")
	lndNetwork := fs.String("lnd-network", "", "your lnd's `network`: mainnet, testnet, signet, regtest or simnet (env STIPEND_PAY_LND_NETWORK, default mainnet)")
	fromBalance := fs.Bool("from-balance", false, "pay invoices from your Stipend balance, with your API key (not for the Stipend server's own routes: those take credits)")
	idem := fs.String("idempotency-key", "", "the Idempotency-Key `K` of the request, kept on the paid retry (default: a new random key for methods other than GET and HEAD)")
	timeout := fs.Duration("timeout", payTimeout, "how long the call may take in all, the payment included")
	pos, err := e.parseArgs(fs, paySynopsis, args, 1)
	if err != nil {
		return err
	}
	refuse := func(format string, a ...any) error { return usageWithHelp(fs, paySynopsis, fmt.Errorf(format, a...)) }

	target, err := url.Parse(pos[0])
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return refuse("URL %q: must be an http:// or https:// URL", clip(pos[0]))
	}
	switch *method {
	case "", wire.MethodL402, wire.MethodPayment, wire.MethodCredits:
	default:
		return refuse("--method %q: must be l402, payment or credits", clip(*method))
	}

	tr := &client.PayingTransport{Method: *method}
	if *maxPrice == "" && *method != wire.MethodCredits {
		return refuse("--max-price is required: the most you will pay for one call, such as \"100 sat\"")
	}
	if *maxPrice != "" {
		a, err := btcAmount("--max-price", *maxPrice)
		if err != nil {
			return refuse("%s", err.Error())
		}
		tr.MaxPriceMsat = a
	}
	if *maxFee != "" {
		a, err := btcAmount("--max-fee", *maxFee)
		if err != nil {
			return refuse("%s", err.Error())
		}
		tr.MaxFeeMsat = a
	}

	// The request.
	verb := strings.ToUpper(*httpMethod)
	var body []byte
	if *data != "" {
		switch {
		case *data == "@-":
			body, err = io.ReadAll(e.stdin)
		case strings.HasPrefix(*data, "@"):
			body, err = os.ReadFile((*data)[1:])
		default:
			body = []byte(*data)
		}
		if err != nil {
			return &usageError{cmd: name, err: fmt.Errorf("-d: %w", err)}
		}
		if verb == "" {
			verb = http.MethodPost
		}
	}
	if verb == "" {
		verb = http.MethodGet
	}
	header := http.Header{}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\r\n") {
			return refuse("-H %q: give a header as 'Name: value'", clip(h))
		}
		header.Add(k, strings.TrimSpace(v))
	}
	if *idem != "" {
		header.Set(client.HeaderIdempotencyKey, *idem)
	}
	if header.Get(client.HeaderIdempotencyKey) == "" && verb != http.MethodGet && verb != http.MethodHead {
		header.Set(client.HeaderIdempotencyKey, client.NewIdempotencyKey())
	}
	if body != nil && header.Get("Content-Type") == "" {
		header.Set("Content-Type", "application/json")
	}
	header.Set("User-Agent", "stipend-cli/"+version())

	// How to pay.
	apiKey := firstNonEmpty(e.apiKey, e.getenv("STIPEND_API_KEY"))
	server := firstNonEmpty(e.server, e.getenv("STIPEND_SERVER"), DefaultServer)
	if apiKey != "" {
		tr.APIKey, tr.APIKeyServer = apiKey, server
	}
	sameServer := false
	if su, err := url.Parse(server); err == nil {
		sameServer = strings.EqualFold(su.Scheme, target.Scheme) && strings.EqualFold(su.Host, target.Host)
	}
	host := firstNonEmpty(*lndHost, e.getenv("STIPEND_PAY_LND_HOST"))
	switch {
	case *fromBalance && *lndHost != "":
		return refuse("pay from your lnd (--lnd-host) or from your balance (--from-balance), not both")
	case *fromBalance:
		if sameServer {
			// The server cannot pay its own invoices; credits take the price from the
			// same balance.
			if *method == wire.MethodL402 || *method == wire.MethodPayment {
				return refuse("--from-balance cannot pay invoices of the Stipend server itself (a node cannot pay itself): use --method credits")
			}
			tr.Method = wire.MethodCredits
			break
		}
		c, err := e.client()
		if err != nil {
			return err
		}
		tr.Wallet = client.NewBalanceWallet(c)
	case host != "":
		cert := firstNonEmpty(*lndCert, e.getenv("STIPEND_PAY_LND_TLS_CERT"))
		mac := firstNonEmpty(*lndMacaroon, e.getenv("STIPEND_PAY_LND_MACAROON"))
		network := firstNonEmpty(*lndNetwork, e.getenv("STIPEND_PAY_LND_NETWORK"), "mainnet")
		if cert == "" || mac == "" {
			return refuse("paying from lnd needs --lnd-cert and --lnd-macaroon (or STIPEND_PAY_LND_TLS_CERT and STIPEND_PAY_LND_MACAROON)")
		}
		if err := lightning.CheckNetwork(network); err != nil {
			return refuse("--lnd-network: %s", stipend.ErrorMessage(err))
		}
		node, err := lnd.Dial(lnd.Config{Host: host, TLSCertPath: cert, MacaroonPath: mac, Network: network})
		if err != nil {
			return err
		}
		defer node.Close()
		tr.Wallet, tr.Network = client.NewLNDWallet(node), network
	}
	if tr.Method == wire.MethodCredits && apiKey == "" {
		return refuse("credits are paid with your API key: pass --api-key or set STIPEND_API_KEY")
	}
	if tr.Wallet == nil && tr.Method != wire.MethodCredits && !(sameServer && apiKey != "" && tr.Method == "") {
		return refuse("no wallet to pay with: give --lnd-host (with --lnd-cert and --lnd-macaroon) or --from-balance")
	}

	dir, err := stateDir(e.getenv)
	if err != nil {
		return err
	}
	store, err := client.OpenPaymentStore(dir)
	if err != nil {
		return err
	}
	tr.Store = store

	// The call.
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var out client.PaymentOutcome
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(client.WithPaymentOutcome(ctx, &out), verb, target.String(), reader)
	if err != nil {
		return refuse("%v", err)
	}
	req.Header = header
	resp, err := tr.Client().Do(req)
	if err != nil {
		return e.payError(err, verb, header, store.Path())
	}
	defer resp.Body.Close()
	if _, err := io.Copy(e.stdout, resp.Body); err != nil {
		return fmt.Errorf("reading the response: %w", err)
	}
	e.printPayment(&out)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := fmt.Sprintf("%s answered HTTP %d %s", target.Redacted(), resp.StatusCode, http.StatusText(resp.StatusCode))
		switch {
		case out.Refused:
			msg += fmt.Sprintf(": it refused the credential paid with payment hash %s", out.PaymentHash)
		case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "":
			msg += ": try again after " + oneLine(resp.Header.Get("Retry-After")) + " s"
		}
		return errors.New(msg)
	}
	return nil
}

// btcAmount parses a positive amount of BTC ("100 sat") into millisatoshis.
func btcAmount(flagName, s string) (int64, error) {
	a, err := ledger.ParseAmount(s)
	if err == nil {
		err = a.CheckPositive(flagName)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %s", flagName, stipend.ErrorMessage(err))
	}
	if a.Asset != ledger.BTC {
		return 0, fmt.Errorf("%s %q: Lightning prices are in BTC: give sat or msat", flagName, clip(s))
	}
	return a.Value, nil
}

// stateDir is where "pay" keeps its payments: $STIPEND_STATE_DIR, or stipend/ in the user's
// config directory.
func stateDir(getenv func(string) string) (string, error) {
	if d := getenv("STIPEND_STATE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", &usageError{err: fmt.Errorf("no directory for the payment records: set STIPEND_STATE_DIR (%v)", err)}
	}
	return filepath.Join(d, "stipend"), nil
}

// printPayment tells on stderr what was paid, and the server's receipt.
func (e *env) printPayment(out *client.PaymentOutcome) {
	if out.Method == "" {
		return
	}
	var b strings.Builder
	switch {
	case out.Method == wire.MethodCredits:
		price := "the price"
		if out.Price != nil && out.Price.Amount > 0 {
			price = amount(out.Price.Amount, out.Price.Asset)
		}
		fmt.Fprintf(&b, "paid %s from your credits", price)
	case out.Reused && !out.Paid:
		fmt.Fprintf(&b, "used a token paid earlier by %s (payment hash %s); nothing more was paid", out.Method, out.PaymentHash)
	case out.Reused:
		fmt.Fprintf(&b, "used the earlier payment of %s by %s (payment hash %s); nothing more was paid", amount(out.AmountMsat, "BTC"), out.Method, out.PaymentHash)
	default:
		fmt.Fprintf(&b, "paid %s by %s, routing fee %s (payment hash %s)", amount(out.AmountMsat, "BTC"), out.Method, amount(out.FeeMsat, "BTC"), out.PaymentHash)
	}
	if r := out.Receipt; r != nil {
		fmt.Fprintf(&b, "\nreceipt: method %s, reference %s, status %s", oneLine(r.Method), oneLine(r.Reference), oneLine(r.Status))
		if r.Timestamp != "" {
			fmt.Fprintf(&b, ", at %s", oneLine(r.Timestamp))
		}
	}
	e.errorf("%s\n", b.String())
}

// payError adds advice to a failed call: when a payment may have been made, running the same
// command again (with the same Idempotency-Key) tracks or presents it instead of paying again.
func (e *env) payError(err error, verb string, header http.Header, storePath string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is known to the person who typed it
	}
	if errors.Is(err, client.ErrPaymentUnknown) || errors.Is(err, client.ErrRetryFailed) {
		hint := "the payment is recorded in " + storePath + ": run the same command again to use it; it is not paid twice"
		if k := header.Get(client.HeaderIdempotencyKey); k != "" && verb != http.MethodGet && verb != http.MethodHead {
			hint += ", and keep the request's key with --idempotency-key " + shellQuote(k)
		}
		return &hintedError{err: err, hint: hint}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &hintedError{err: err, hint: "the call took longer than --timeout allows"}
	}
	return err
}
