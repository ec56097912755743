// Package githubtest serves the two GitHub endpoints of the OAuth web flow that Stipend calls,
// the code exchange and the authenticated user, as GitHub documents them, for tests on a
// machine that cannot reach GitHub. Codes are single-use and expire with the server, as
// GitHub's do within ten minutes.
package githubtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Server is a GitHub that knows one OAuth app.
type Server struct {
	URL          string // serves both the web flow and the REST API, as a GitHub Enterprise server does under /api/v3
	ClientID     string
	ClientSecret string

	mu     sync.Mutex
	codes  map[string]string // code → login
	tokens map[string]string // token → login
	ids    map[string]int64
}

// Start runs a Server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{ClientID: "Iv1." + random(8), ClientSecret: random(20),
		codes: map[string]string{}, tokens: map[string]string{}, ids: map[string]int64{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/oauth/access_token", s.exchange)
	mux.HandleFunc("GET /api/v3/user", s.user)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

// APIURL is the REST API's address.
func (s *Server) APIURL() string { return s.URL + "/api/v3/" }

// Authorize is what GitHub does when login approves the app: it issues a code, which it would
// send to the redirect URL with the state.
func (s *Server) Authorize(login string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	code := random(10)
	s.codes[code] = login
	if _, ok := s.ids[login]; !ok {
		s.ids[login] = int64(1000 + len(s.ids))
	}
	return code
}

func (s *Server) exchange(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// GitHub answers a refused exchange with 200 and an error field.
	if r.PostForm.Get("client_id") != s.ClientID || r.PostForm.Get("client_secret") != s.ClientSecret {
		json.NewEncoder(w).Encode(map[string]string{"error": "incorrect_client_credentials",
			"error_description": "The client_id and/or client_secret passed are incorrect."})
		return
	}
	s.mu.Lock()
	login, ok := s.codes[r.PostForm.Get("code")]
	delete(s.codes, r.PostForm.Get("code"))
	token := "gho_" + random(18)
	if ok {
		s.tokens[token] = login
	}
	s.mu.Unlock()
	if !ok {
		json.NewEncoder(w).Encode(map[string]string{"error": "bad_verification_code",
			"error_description": "The code passed is incorrect or expired."})
		return
	}
	json.NewEncoder(w).Encode(map[string]string{"access_token": token, "token_type": "bearer", "scope": ""})
}

func (s *Server) user(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	login, known := s.tokens[token]
	id := s.ids[login]
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok || !known {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"message": "Bad credentials"})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"login": login, "id": id, "type": "User"})
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
