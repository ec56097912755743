package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/stipend/stipend/payments/l402"
)

// The states of a PaymentRecord.
const (
	// RecordPending: the payment is about to be sent, or was sent and its outcome is not
	// known. It is tracked, never paid again.
	RecordPending = "pending"
	// RecordPaid: the invoice is paid and the preimage kept; the credential has not yet been
	// accepted by the server.
	RecordPaid = "paid"
	// RecordUsed: the server accepted the credential.
	RecordUsed = "used"
	// RecordRefused: the server answered the paid credential with another 402.
	RecordRefused = "refused"
	// RecordFailed: the payment failed; nothing was paid.
	RecordFailed = "failed"
)

// PaymentRecord is one Lightning payment made (or about to be made) for a priced request.
type PaymentRecord struct {
	PaymentHash string                `json:"payment_hash"`
	Status      string                `json:"status"`
	URL         string                `json:"url"`
	HTTPMethod  string                `json:"http_method"`
	Method      string                `json:"method"` // wire.MethodL402 or wire.MethodPayment
	Invoice     string                `json:"invoice"`
	AmountMsat  int64                 `json:"amount_msat"`
	FeeMsat     int64                 `json:"fee_msat,omitempty"`
	Scheme      string                `json:"scheme,omitempty"`    // L402 or LSAT, for MethodL402
	Macaroon    string                `json:"macaroon,omitempty"`  // base64, for MethodL402
	Challenge   *l402.EchoedChallenge `json:"challenge,omitempty"` // for MethodPayment
	Reusable    bool                  `json:"reusable,omitempty"`
	// TokenExpires is when a reusable token without an expires caveat stops being sent: the
	// 402's ttl_seconds from the payment.
	TokenExpires time.Time `json:"token_expires,omitzero"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// Preimage is the proof of payment once paid. It is a secret: its String method hides
	// it, and it is never put into an error.
	Preimage *l402.Preimage `json:"-"`
}

// MarshalJSON writes the record with its preimage in hex.
func (r PaymentRecord) MarshalJSON() ([]byte, error) {
	type plain PaymentRecord
	v := struct {
		plain
		PreimageHex string `json:"preimage,omitempty"`
	}{plain: plain(r)}
	if r.Preimage != nil {
		v.PreimageHex = r.Preimage.Hex()
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (r *PaymentRecord) UnmarshalJSON(b []byte) error {
	type plain PaymentRecord
	var v struct {
		plain
		PreimageHex string `json:"preimage,omitempty"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = PaymentRecord(v.plain)
	if v.PreimageHex != "" {
		p, err := l402.ParsePreimage(v.PreimageHex)
		if err != nil {
			return errors.New("a stored preimage is not 64 hex digits")
		}
		r.Preimage = &p
	}
	return nil
}

// String describes the record without its secrets: no preimage, no macaroon, no challenge.
func (r PaymentRecord) String() string {
	return fmt.Sprintf("payment %s (%s, %s %s by %s, %d msat)", r.PaymentHash, r.Status, r.HTTPMethod, r.URL, r.Method, r.AmountMsat)
}

// cachedToken is a reusable credential, sent proactively to the same path of the same origin
// until it expires.
type cachedToken struct {
	Origin        string    `json:"origin"`
	Path          string    `json:"path"`
	HTTPMethod    string    `json:"http_method,omitempty"` // "" for any method
	PaymentHash   string    `json:"payment_hash"`
	Method        string    `json:"method"`
	Authorization string    `json:"authorization"`
	Expires       time.Time `json:"expires"`
}

type storeFile struct {
	Version  int             `json:"version"`
	Payments []PaymentRecord `json:"payments"`
	Tokens   []cachedToken   `json:"tokens"`
}

// StoreFileName is the name of the file a PaymentStore keeps in its directory.
const StoreFileName = "payments.json"

// keepFinished is how long records of finished payments are kept, as receipts.
const keepFinished = 90 * 24 * time.Hour

// PaymentStore keeps the payments made for priced requests and the reusable tokens bought,
// so that a payment whose outcome a crash hid is tracked and used rather than made again. It
// is a JSON file (mode 0600: it holds preimages) written atomically, by a write to a
// temporary file, fsync and rename; every change reads the file again first, so that two
// processes sharing it rarely lose each other's changes. It is safe for concurrent use
// within one process. A store opened with an empty directory lives in memory only.
type PaymentStore struct {
	mu   sync.Mutex
	path string    // "" for memory only
	mem  storeFile // the memory-only state
	now  func() time.Time
}

// OpenPaymentStore opens (creating it and dir, mode 0700, as needed) the store in dir. An
// empty dir gives a store in memory, which cannot recover anything after a crash.
func OpenPaymentStore(dir string) (*PaymentStore, error) {
	s := &PaymentStore{now: time.Now}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("payment store: %w", err)
	}
	s.path = filepath.Join(dir, StoreFileName)
	if _, err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// NewMemoryPaymentStore returns a store that lives in memory only.
func NewMemoryPaymentStore() *PaymentStore { return &PaymentStore{now: time.Now} }

// Path returns the store's file, or "" for a store in memory.
func (s *PaymentStore) Path() string { return s.path }

func (s *PaymentStore) load() (storeFile, error) {
	if s.path == "" {
		return s.mem, nil
	}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return storeFile{Version: 1}, nil
	}
	if err != nil {
		return storeFile{}, fmt.Errorf("payment store: %w", err)
	}
	var f storeFile
	if err := json.Unmarshal(b, &f); err != nil {
		return storeFile{}, fmt.Errorf("payment store %s: not valid JSON; move it aside to start afresh: %w", s.path, err)
	}
	return f, nil
}

func (s *PaymentStore) save(f storeFile) error {
	f.Version = 1
	if s.path == "" {
		s.mem = f
		return nil
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("payment store: %w", err)
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, ".payments-*.json")
	if err != nil {
		return fmt.Errorf("payment store: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("payment store: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("payment store: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("payment store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("payment store: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("payment store: %w", err)
	}
	// The rename is durable once the directory is synced. Not every system can sync a
	// directory; the file itself is already safe.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// update applies fn to the stored state and saves it, under the lock.
func (s *PaymentStore) update(fn func(f *storeFile) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return err
	}
	f.Payments = append([]PaymentRecord(nil), f.Payments...)
	f.Tokens = append([]cachedToken(nil), f.Tokens...)
	if err := fn(&f); err != nil {
		return err
	}
	s.prune(&f)
	return s.save(f)
}

// prune drops expired tokens and finished payments older than keepFinished.
func (s *PaymentStore) prune(f *storeFile) {
	now := s.now()
	tokens := f.Tokens[:0]
	for _, t := range f.Tokens {
		if now.Before(t.Expires) {
			tokens = append(tokens, t)
		}
	}
	f.Tokens = tokens
	payments := f.Payments[:0]
	for _, p := range f.Payments {
		finished := p.Status == RecordUsed || p.Status == RecordFailed || p.Status == RecordRefused
		if !finished || now.Sub(p.UpdatedAt) < keepFinished {
			payments = append(payments, p)
		}
	}
	f.Payments = payments
}

// Payments returns every stored payment, oldest first.
func (s *PaymentStore) Payments() ([]PaymentRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return nil, err
	}
	return append([]PaymentRecord(nil), f.Payments...), nil
}

// Payment returns the payment of a hash, or nil.
func (s *PaymentStore) Payment(hash string) (*PaymentRecord, error) {
	ps, err := s.Payments()
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if ps[i].PaymentHash == hash {
			return &ps[i], nil
		}
	}
	return nil, nil
}

// PutPayment stores r, replacing the record of the same payment hash.
func (s *PaymentStore) PutPayment(r PaymentRecord) error {
	if r.PaymentHash == "" {
		return errors.New("payment store: a payment needs its payment hash")
	}
	r.UpdatedAt = s.now().UTC()
	if r.CreatedAt.IsZero() {
		r.CreatedAt = r.UpdatedAt
	}
	return s.update(func(f *storeFile) error {
		for i := range f.Payments {
			if f.Payments[i].PaymentHash == r.PaymentHash {
				f.Payments[i] = r
				return nil
			}
		}
		f.Payments = append(f.Payments, r)
		return nil
	})
}

// setStatus changes the status of a stored payment, if there is one.
func (s *PaymentStore) setStatus(hash, status string) error {
	return s.update(func(f *storeFile) error {
		for i := range f.Payments {
			if f.Payments[i].PaymentHash == hash {
				f.Payments[i].Status = status
				f.Payments[i].UpdatedAt = s.now().UTC()
			}
		}
		return nil
	})
}

// putToken caches a reusable credential, replacing one for the same origin, path and method.
func (s *PaymentStore) putToken(t cachedToken) error {
	return s.update(func(f *storeFile) error {
		for i := range f.Tokens {
			if f.Tokens[i].Origin == t.Origin && f.Tokens[i].Path == t.Path && f.Tokens[i].HTTPMethod == t.HTTPMethod {
				f.Tokens[i] = t
				return nil
			}
		}
		f.Tokens = append(f.Tokens, t)
		return nil
	})
}

// token returns the unexpired cached credential for a request, if there is one. margin is
// how long it must still be valid.
func (s *PaymentStore) token(origin, path, httpMethod string, margin time.Duration) (*cachedToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return nil, err
	}
	now := s.now()
	for i := range f.Tokens {
		t := f.Tokens[i]
		if t.Origin == origin && t.Path == path && (t.HTTPMethod == "" || t.HTTPMethod == httpMethod) && now.Add(margin).Before(t.Expires) {
			return &t, nil
		}
	}
	return nil, nil
}

// dropToken forgets a cached credential, by the payment it was bought with.
func (s *PaymentStore) dropToken(paymentHash string) error {
	return s.update(func(f *storeFile) error {
		tokens := f.Tokens[:0]
		for _, t := range f.Tokens {
			if t.PaymentHash != paymentHash {
				tokens = append(tokens, t)
			}
		}
		f.Tokens = tokens
		return nil
	})
}
