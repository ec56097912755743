package stripemock

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Request is one request that went through a Recorder to stripe-mock.
type Request struct {
	Method, Path, IdempotencyKey string
	Form                         url.Values
}

// Recorder is a reverse proxy in front of stripe-mock that records what reaches it. stripe-mock
// keeps no state, so a test asks the recorder what was sent: which idempotency keys a payout's
// transfers carried, how many requests were made.
//
// stripe-mock does not implement idempotency either. The recorder does what Stripe documents
// for it: a POST whose Idempotency-Key was seen before gets the first response again, as
// Stripe answers for 24 hours, so that code relying on it (a transfer sent again after a lost
// reply) can be tested. LoseReplies makes it forward a request and then answer 502 instead of
// the reply, as a connection cut after Stripe acted does.
type Recorder struct {
	URL string

	mu        sync.Mutex
	requests  []Request
	loseReply func(Request) bool
	replies   map[string]*httptest.ResponseRecorder // by method, path and idempotency key
}

// NewRecorder starts a recorder in front of srv until the test ends.
func NewRecorder(t testing.TB, srv *Server) *Recorder {
	t.Helper()
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	r := &Recorder{replies: map[string]*httptest.ResponseRecorder{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := req.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec := Request{Method: req.Method, Path: req.URL.Path, IdempotencyKey: req.Header.Get("Idempotency-Key"), Form: req.PostForm}
		r.mu.Lock()
		r.requests = append(r.requests, rec)
		lose := r.loseReply != nil && r.loseReply(rec)
		r.mu.Unlock()
		// The form was consumed by ParseForm: send it on as it came.
		body := req.PostForm.Encode()
		req.Body = http.NoBody
		req.ContentLength = int64(len(body))
		if body != "" {
			req.Body = io.NopCloser(strings.NewReader(body))
		}
		key := ""
		if rec.Method == http.MethodPost && rec.IdempotencyKey != "" {
			key = rec.Method + " " + rec.Path + " " + rec.IdempotencyKey
		}
		r.mu.Lock()
		first, seen := r.replies[key]
		r.mu.Unlock()
		if !seen {
			first = httptest.NewRecorder()
			proxy.ServeHTTP(first, req)
			if key != "" && first.Code < 500 {
				r.mu.Lock()
				if earlier, ok := r.replies[key]; ok {
					first = earlier // a concurrent request with the key got there first
				} else {
					r.replies[key] = first
				}
				r.mu.Unlock()
			}
		}
		if lose {
			http.Error(w, "the connection to Stripe broke", http.StatusBadGateway)
			return
		}
		for k, v := range first.Header() {
			w.Header()[k] = v
		}
		if seen {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		w.WriteHeader(first.Code)
		w.Write(first.Body.Bytes())
	}))
	t.Cleanup(hs.Close)
	r.URL = hs.URL
	return r
}

// LoseReplies makes the recorder lose the reply of every request for which lose is true (nil
// stops it).
func (r *Recorder) LoseReplies(lose func(Request) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loseReply = lose
}

// Requests returns the requests recorded so far that match keep (all when nil).
func (r *Recorder) Requests(keep func(Request) bool) []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Request
	for _, q := range r.requests {
		if keep == nil || keep(q) {
			out = append(out, q)
		}
	}
	return out
}
