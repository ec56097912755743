// Package lnd implements lightning.Node over lnd's gRPC (lnrpc, invoicesrpc, routerrpc),
// configured by host, TLS certificate and macaroon; the connection is set up by Lightning
// Labs' lndclient.
package lnd

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/lightninglabs/lndclient"
	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/invoicesrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stipend/stipend"
	"github.com/stipend/stipend/payments/lightning"
)

// Config says how to reach an lnd node.
type Config struct {
	Host         string // gRPC host:port
	TLSCertPath  string
	MacaroonPath string // a macaroon with the invoice, offchain and info permissions (admin.macaroon will do)
	Network      string // "mainnet", "testnet", "signet", "regtest", "simnet"
}

// Client is a lightning.Node backed by lnd's gRPC: lnrpc, invoicesrpc and routerrpc. The connection, its
// TLS and its macaroon are set up by Lightning Labs' lndclient.
type Client struct {
	conn     *grpc.ClientConn
	ln       lnrpc.LightningClient
	invoices invoicesrpc.InvoicesClient
	router   routerrpc.RouterClient
	network  string
}

var _ lightning.Node = (*Client)(nil)

// Dial connects to lnd. It does not wait for lnd to answer; lightning.Info does.
func Dial(cfg Config) (*Client, error) {
	if err := lightning.CheckNetwork(cfg.Network); err != nil {
		return nil, err
	}
	conn, err := lndclient.NewBasicConn(cfg.Host, cfg.TLSCertPath, filepath.Dir(cfg.MacaroonPath), cfg.Network,
		lndclient.MacFilename(filepath.Base(cfg.MacaroonPath)))
	if err != nil {
		return nil, fmt.Errorf("connecting to lnd at %s: %w", cfg.Host, err)
	}
	return &Client{
		conn:     conn,
		ln:       lnrpc.NewLightningClient(conn),
		invoices: invoicesrpc.NewInvoicesClient(conn),
		router:   routerrpc.NewRouterClient(conn),
		network:  cfg.Network,
	}, nil
}

// Close closes the connection.
func (l *Client) Close() error { return l.conn.Close() }

// Network is the network the node was configured for.
func (l *Client) Network() string { return l.network }

// rpcError turns a gRPC error into a domain error. The client sees a fixed message for each
// kind of failure; lnd's own words, which can name its hosts and internals, stay in the wrapped
// error for the logs.
func rpcError(err error, what string) error {
	if err == nil {
		return nil
	}
	code, msg := stipend.EINTERNAL, "the Lightning node failed"
	switch status.Code(err) {
	case codes.NotFound:
		code, msg = stipend.ENOTFOUND, "the Lightning node has no such invoice or payment"
	case codes.AlreadyExists:
		code, msg = stipend.ECONFLICT, "the Lightning node already has this invoice or payment"
	case codes.InvalidArgument:
		code, msg = stipend.EINVALID, "the Lightning node refused the request"
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		code, msg = stipend.EUNAVAILABLE, "the Lightning node is unavailable"
	}
	return &stipend.Error{Code: code, Message: msg, Err: fmt.Errorf("%s: %w", what, err)}
}

func decodeHash(h string) ([]byte, error) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return nil, stipend.Errorf(stipend.EINVALID, "payment hash must be 64 hex characters")
	}
	return b, nil
}

// lightning.Info implements Node.
func (l *Client) Info(ctx context.Context) (*lightning.Info, error) {
	r, err := l.ln.GetInfo(ctx, &lnrpc.GetInfoRequest{})
	if err != nil {
		return nil, rpcError(err, "lnd GetInfo")
	}
	info := &lightning.Info{PubKey: r.IdentityPubkey, BlockHeight: int32(r.BlockHeight), Synced: r.SyncedToChain}
	if len(r.Chains) > 0 {
		info.Network = r.Chains[0].Network
	}
	return info, nil
}

// AddInvoice implements Node.
func (l *Client) AddInvoice(ctx context.Context, req lightning.InvoiceRequest) (*lightning.Invoice, error) {
	if req.AmountMsat <= 0 {
		return nil, stipend.Errorf(stipend.EINVALID, "an invoice needs a positive amount")
	}
	if req.Expiry < time.Minute || req.Expiry > 30*24*time.Hour {
		return nil, stipend.Errorf(stipend.EINVALID, "invoice expiry must be between a minute and 30 days")
	}
	now := time.Now()
	r, err := l.ln.AddInvoice(ctx, &lnrpc.Invoice{ValueMsat: req.AmountMsat, Memo: req.Memo, Expiry: int64(req.Expiry / time.Second)})
	if err != nil {
		return nil, rpcError(err, "lnd AddInvoice")
	}
	return &lightning.Invoice{PaymentRequest: r.PaymentRequest, Hash: hex.EncodeToString(r.RHash), AddIndex: r.AddIndex,
		ExpiresAt: now.Add(req.Expiry).UTC()}, nil
}

func invoiceUpdate(inv *lnrpc.Invoice) lightning.InvoiceUpdate {
	u := lightning.InvoiceUpdate{
		Hash:           hex.EncodeToString(inv.RHash),
		AmountMsat:     inv.ValueMsat,
		AmountPaidMsat: inv.AmtPaidMsat,
		AddIndex:       inv.AddIndex,
		SettleIndex:    inv.SettleIndex,
	}
	switch inv.State {
	case lnrpc.Invoice_OPEN:
		u.State = lightning.InvoiceOpen
	case lnrpc.Invoice_ACCEPTED:
		u.State = lightning.InvoiceAccepted
	case lnrpc.Invoice_SETTLED:
		u.State = lightning.InvoiceSettled
	case lnrpc.Invoice_CANCELED:
		u.State = lightning.InvoiceCanceled
	}
	if inv.SettleDate > 0 {
		u.SettledAt = time.Unix(inv.SettleDate, 0).UTC()
	}
	for _, h := range inv.Htlcs {
		if h.State == lnrpc.InvoiceHTLCState_CANCELED {
			continue
		}
		if u.AcceptHeight == 0 || h.AcceptHeight < u.AcceptHeight {
			u.AcceptHeight = h.AcceptHeight
		}
		if u.HTLCExpiry == 0 || h.ExpiryHeight < u.HTLCExpiry {
			u.HTLCExpiry = h.ExpiryHeight
		}
	}
	return u
}

// SubscribeSettled implements Node. lnd replays the settlements after a non-zero settle
// index itself; for index zero it replays nothing, so those are listed first, after the
// stream is open so that nothing settled in between is missed, and skipped on the stream.
func (l *Client) SubscribeSettled(ctx context.Context, settleIndex uint64) (<-chan lightning.InvoiceUpdate, <-chan error, error) {
	// The stream lives as long as the goroutine reading it, not as long as the caller's ctx:
	// every way out closes it, so that a subscriber that gives up leaves nothing open in lnd.
	ctx, cancel := context.WithCancel(ctx)
	stream, err := l.ln.SubscribeInvoices(ctx, &lnrpc.InvoiceSubscription{SettleIndex: settleIndex})
	if err != nil {
		cancel()
		return nil, nil, rpcError(err, "lnd SubscribeInvoices")
	}
	var backlog []lightning.InvoiceUpdate
	if settleIndex == 0 {
		all, err := l.ListInvoices(ctx)
		if err != nil {
			cancel()
			return nil, nil, err
		}
		for _, u := range all {
			if u.State == lightning.InvoiceSettled && u.SettleIndex > 0 {
				backlog = append(backlog, u)
			}
		}
		sort.Slice(backlog, func(i, j int) bool { return backlog[i].SettleIndex < backlog[j].SettleIndex })
	}
	updates, errs := make(chan lightning.InvoiceUpdate), make(chan error, 1)
	go func() {
		defer cancel()
		defer close(updates)
		seen := settleIndex
		send := func(u lightning.InvoiceUpdate) bool {
			if u.SettleIndex <= seen {
				return true
			}
			select {
			case updates <- u:
				seen = u.SettleIndex
				return true
			case <-ctx.Done():
				errs <- ctx.Err()
				return false
			}
		}
		for _, u := range backlog {
			if !send(u) {
				return
			}
		}
		for {
			inv, err := stream.Recv()
			if err != nil {
				errs <- rpcError(err, "lnd invoice subscription")
				return
			}
			if inv.State == lnrpc.Invoice_SETTLED && !send(invoiceUpdate(inv)) {
				return
			}
		}
	}()
	return updates, errs, nil
}

// LookupInvoice implements Node.
func (l *Client) LookupInvoice(ctx context.Context, hash string) (*lightning.InvoiceUpdate, error) {
	h, err := decodeHash(hash)
	if err != nil {
		return nil, err
	}
	inv, err := l.ln.LookupInvoice(ctx, &lnrpc.PaymentHash{RHash: h})
	if err != nil {
		return nil, rpcError(err, "lnd LookupInvoice")
	}
	u := invoiceUpdate(inv)
	return &u, nil
}

// AddHoldInvoice implements Node.
func (l *Client) AddHoldInvoice(ctx context.Context, req lightning.HoldInvoiceRequest) (*lightning.Invoice, error) {
	h, err := decodeHash(req.Hash)
	if err != nil {
		return nil, err
	}
	if req.AmountMsat <= 0 {
		return nil, stipend.Errorf(stipend.EINVALID, "a hold invoice needs a positive amount")
	}
	now := time.Now()
	r, err := l.invoices.AddHoldInvoice(ctx, &invoicesrpc.AddHoldInvoiceRequest{
		Hash: h, ValueMsat: req.AmountMsat, Memo: req.Memo, Expiry: int64(req.Expiry / time.Second), CltvExpiry: req.CltvExpiry,
	})
	if err != nil {
		return nil, rpcError(err, "lnd AddHoldInvoice")
	}
	return &lightning.Invoice{PaymentRequest: r.PaymentRequest, Hash: req.Hash, AddIndex: r.AddIndex, ExpiresAt: now.Add(req.Expiry).UTC()}, nil
}

// SubscribeInvoice implements Node.
func (l *Client) SubscribeInvoice(ctx context.Context, hash string) (<-chan lightning.InvoiceUpdate, <-chan error, error) {
	h, err := decodeHash(hash)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	stream, err := l.invoices.SubscribeSingleInvoice(ctx, &invoicesrpc.SubscribeSingleInvoiceRequest{RHash: h})
	if err != nil {
		cancel()
		return nil, nil, rpcError(err, "lnd SubscribeSingleInvoice")
	}
	updates, errs := make(chan lightning.InvoiceUpdate), make(chan error, 1)
	go func() {
		defer cancel()
		defer close(updates)
		for {
			inv, err := stream.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					errs <- rpcError(err, "lnd invoice subscription")
				}
				return
			}
			select {
			case updates <- invoiceUpdate(inv):
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
		}
	}()
	return updates, errs, nil
}

// SettleInvoice implements Node.
func (l *Client) SettleInvoice(ctx context.Context, preimage string) error {
	p, err := hex.DecodeString(preimage)
	if err != nil || len(p) != 32 {
		return stipend.Errorf(stipend.EINVALID, "a preimage must be 64 hex characters")
	}
	_, err = l.invoices.SettleInvoice(ctx, &invoicesrpc.SettleInvoiceMsg{Preimage: p})
	// Settling twice, as a retry after a lost reply does, is success, not a conflict.
	if err != nil && containsFold(status.Convert(err).Message(), "invoice already settled") {
		return nil
	}
	return invoiceStateError(err, "lnd SettleInvoice")
}

// CancelInvoice implements Node.
func (l *Client) CancelInvoice(ctx context.Context, hash string) error {
	h, err := decodeHash(hash)
	if err != nil {
		return err
	}
	_, err = l.invoices.CancelInvoice(ctx, &invoicesrpc.CancelInvoiceMsg{PaymentHash: h})
	if err != nil && containsFold(status.Convert(err).Message(), "invoice already canceled") {
		return nil
	}
	return invoiceStateError(err, "lnd CancelInvoice")
}

// invoiceStateError reports lnd's refusals to settle or cancel an invoice in the wrong state,
// which lnd sends without a specific gRPC code, as conflicts.
func invoiceStateError(err error, what string) error {
	if err == nil {
		return nil
	}
	if status.Code(err) == codes.Unknown {
		msg := status.Convert(err).Message()
		for _, s := range []string{"invoice already settled", "invoice already canceled", "invoice still open", "unable to cancel", "cannot settle"} {
			if containsFold(msg, s) {
				return &stipend.Error{Code: stipend.ECONFLICT, Message: "the invoice is not in a state that allows this", Err: fmt.Errorf("%s: %w", what, err)}
			}
		}
		if containsFold(msg, "unable to locate invoice") || containsFold(msg, "there are no existing invoices") {
			return &stipend.Error{Code: stipend.ENOTFOUND, Message: "the Lightning node has no such invoice", Err: fmt.Errorf("%s: %w", what, err)}
		}
	}
	return rpcError(err, what)
}

func payment(p *lnrpc.Payment) *lightning.Payment {
	out := &lightning.Payment{
		Hash:       p.PaymentHash,
		AmountMsat: p.ValueMsat,
		FeeMsat:    p.FeeMsat,
		CreatedAt:  time.Unix(0, p.CreationTimeNs).UTC(),
	}
	switch p.Status {
	case lnrpc.Payment_SUCCEEDED:
		out.Status, out.Preimage = lightning.PaymentSucceeded, p.PaymentPreimage
	case lnrpc.Payment_FAILED:
		out.Status, out.FailureReason = lightning.PaymentFailed, p.FailureReason.String()
	default:
		out.Status = lightning.PaymentInFlight
	}
	return out
}

// SendPayment implements Node.
func (l *Client) SendPayment(ctx context.Context, req lightning.PaymentRequest) (*lightning.Payment, error) {
	hash, err := lightning.PaymentHash(req.Invoice, l.network)
	if err != nil {
		return nil, err
	}
	// A payment lnd already knows is followed, never sent again.
	if p, err := l.currentPayment(ctx, hash); err != nil {
		return nil, err
	} else if p.Status != lightning.PaymentUnknown {
		if p.Status == lightning.PaymentInFlight {
			return l.TrackPayment(ctx, hash)
		}
		return p, nil
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	stream, err := l.router.SendPaymentV2(ctx, &routerrpc.SendPaymentRequest{
		PaymentRequest:    req.Invoice,
		AmtMsat:           req.AmountMsat,
		FeeLimitMsat:      req.FeeLimitMsat,
		TimeoutSeconds:    int32(timeout / time.Second),
		NoInflightUpdates: true,
	})
	if err != nil {
		return nil, rpcError(err, "lnd SendPaymentV2")
	}
	return l.follow(ctx, hash, stream, true)
}

// follow reads a payment stream to its final state. If the stream breaks or ctx ends first,
// the payment is reported in flight: its outcome is unknown, not failed.
//
// For a stream that sent the payment, any other error is lnd refusing to start it (an expired
// invoice, a payment to itself): if lnd then has no payment of the hash, nothing was sent and
// the payment failed; if it has one, that one is the outcome.
func (l *Client) follow(ctx context.Context, hash string, stream interface {
	Recv() (*lnrpc.Payment, error)
}, sent bool) (*lightning.Payment, error) {
	for {
		p, err := stream.Recv()
		if err != nil {
			switch {
			case status.Code(err) == codes.NotFound:
				return &lightning.Payment{Hash: hash, Status: lightning.PaymentUnknown}, nil
			case status.Code(err) == codes.AlreadyExists:
				// Sent meanwhile by someone else: follow that payment instead.
				return l.TrackPayment(ctx, hash)
			case ctx.Err() != nil, errors.Is(err, io.EOF), status.Code(err) == codes.Unavailable, status.Code(err) == codes.Canceled, status.Code(err) == codes.DeadlineExceeded:
				return &lightning.Payment{Hash: hash, Status: lightning.PaymentInFlight}, nil
			case sent:
				known, perr := l.currentPayment(ctx, hash)
				if perr != nil {
					return &lightning.Payment{Hash: hash, Status: lightning.PaymentInFlight}, nil
				}
				if known.Status == lightning.PaymentUnknown {
					return &lightning.Payment{Hash: hash, Status: lightning.PaymentFailed,
						FailureReason: lightning.RefusedPrefix + status.Convert(err).Message()}, nil
				}
				if known.Status == lightning.PaymentInFlight {
					return l.TrackPayment(ctx, hash)
				}
				return known, nil
			}
			return nil, rpcError(err, "lnd payment stream")
		}
		if pay := payment(p); pay.Status != lightning.PaymentInFlight {
			return pay, nil
		}
	}
}

// currentPayment asks lnd for a payment's state without waiting for it to end.
func (l *Client) currentPayment(ctx context.Context, hash string) (*lightning.Payment, error) {
	h, err := decodeHash(hash)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := l.router.TrackPaymentV2(cctx, &routerrpc.TrackPaymentRequest{PaymentHash: h})
	if err != nil {
		return nil, rpcError(err, "lnd TrackPaymentV2")
	}
	p, err := stream.Recv()
	if status.Code(err) == codes.NotFound {
		return &lightning.Payment{Hash: hash, Status: lightning.PaymentUnknown}, nil
	}
	if err != nil {
		return nil, rpcError(err, "lnd TrackPaymentV2")
	}
	return payment(p), nil
}

// TrackPayment implements Node.
func (l *Client) TrackPayment(ctx context.Context, hash string) (*lightning.Payment, error) {
	h, err := decodeHash(hash)
	if err != nil {
		return nil, err
	}
	stream, err := l.router.TrackPaymentV2(ctx, &routerrpc.TrackPaymentRequest{PaymentHash: h, NoInflightUpdates: true})
	if err != nil {
		return nil, rpcError(err, "lnd TrackPaymentV2")
	}
	return l.follow(ctx, hash, stream, false)
}

// ListPayments implements Node.
func (l *Client) ListPayments(ctx context.Context) ([]lightning.Payment, error) {
	var out []lightning.Payment
	var offset uint64
	for {
		r, err := l.ln.ListPayments(ctx, &lnrpc.ListPaymentsRequest{IncludeIncomplete: true, IndexOffset: offset, MaxPayments: 1000})
		if err != nil {
			return nil, rpcError(err, "lnd ListPayments")
		}
		for _, p := range r.Payments {
			out = append(out, *payment(p))
		}
		if len(r.Payments) == 0 || r.LastIndexOffset <= offset {
			return out, nil
		}
		offset = r.LastIndexOffset
	}
}

// ListInvoices implements Node.
func (l *Client) ListInvoices(ctx context.Context) ([]lightning.InvoiceUpdate, error) {
	var out []lightning.InvoiceUpdate
	var offset uint64
	for {
		r, err := l.ln.ListInvoices(ctx, &lnrpc.ListInvoiceRequest{IndexOffset: offset, NumMaxInvoices: 1000})
		if err != nil {
			return nil, rpcError(err, "lnd ListInvoices")
		}
		for _, inv := range r.Invoices {
			out = append(out, invoiceUpdate(inv))
		}
		if len(r.Invoices) == 0 || r.LastIndexOffset <= offset {
			return out, nil
		}
		offset = r.LastIndexOffset
	}
}

func containsFold(s, sub string) bool { return strings.Contains(strings.ToLower(s), sub) }
