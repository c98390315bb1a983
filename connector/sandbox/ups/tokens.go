package ups

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"strings"
	"sync"
	"time"
)

// service is the service a token was issued for: the reference makes the
// status service demand its own token, so a client that mixes them up must
// see 401 here before it does in production.
type service uint8

const (
	attributesService service = iota + 1
	statusService
)

func (sv service) String() string {
	switch sv {
	case attributesService:
		return "attributes"
	case statusService:
		return "common-status"
	}
	return "unknown"
}

// tokenPruneFloor is the map size under which expired tokens are not worth
// sweeping; above it a sweep runs whenever the map doubles, so issuing stays
// O(1) amortised and a client that asks for a token per request cannot grow
// the map past twice its live tokens.
const tokenPruneFloor = 1024

// tokenStore holds the tokens issued and not yet known to be expired.
type tokenStore struct {
	ttl     time.Duration
	mu      sync.RWMutex
	issued  map[string]issuedToken
	pruneAt int
}

type issuedToken struct {
	svc     service
	expires time.Time
}

func newTokenStore(ttl time.Duration) *tokenStore {
	return &tokenStore{ttl: ttl, issued: make(map[string]issuedToken), pruneAt: tokenPruneFloor}
}

func (ts *tokenStore) issue(svc service, now time.Time) string {
	tok := rand.Text()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.issued) >= ts.pruneAt {
		for k, t := range ts.issued {
			if !now.Before(t.expires) {
				delete(ts.issued, k)
			}
		}
		ts.pruneAt = max(tokenPruneFloor, 2*len(ts.issued))
	}
	ts.issued[tok] = issuedToken{svc: svc, expires: now.Add(ts.ttl)}
	return tok
}

func (ts *tokenStore) valid(tok string, svc service, now time.Time) bool {
	ts.mu.RLock()
	t, ok := ts.issued[tok]
	ts.mu.RUnlock()
	return ok && t.svc == svc && now.Before(t.expires)
}

// expireAll forgets every token, which is what a client sees when the real
// gateway revokes them or when they expire earlier than announced.
func (ts *tokenStore) expireAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	clear(ts.issued)
	ts.pruneAt = tokenPruneFloor
}

// ExpireTokens makes every token issued so far invalid, for tests that
// inject a token expiry mid-run.
func (s *Server) ExpireTokens() { s.tokens.expireAll() }

// tokenAnswer is the token endpoint's success body, as in the reference.
type tokenAnswer struct {
	TokenType   string `json:"token_type"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// oauthError is the token endpoint's error body (RFC 6749, section 5.2),
// which OAuth client libraries parse.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// issueToken serves a token endpoint. The credentials may come as form
// fields (the reference's curl example), query parameters (its prose) or
// HTTP Basic (RFC 6749, section 2.3.1, which OAuth client libraries try
// first), or only as Config.TokenStyle says.
func (s *Server) issueToken(svc service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: err.Error()})
			return
		}
		// r.Form merges the body's fields and the query's.
		params := r.Form
		switch s.cfg.TokenStyle {
		case TokenStyleForm:
			params = r.PostForm
		case TokenStyleQuery:
			params = r.URL.Query()
		}
		id, secret := params.Get("client_id"), params.Get("client_secret")
		if u, p, ok := r.BasicAuth(); ok && s.cfg.TokenStyle == TokenStyleAny {
			id, secret = u, p
		}
		if !sameSecret(id, s.cfg.ClientID) || !sameSecret(secret, s.cfg.ClientSecret) {
			s.stats.tokensRefused.Add(1)
			writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_client", Description: "unknown client_id or wrong client_secret"})
			return
		}
		switch gt := params.Get("grant_type"); gt {
		case "client_credentials":
		case "":
			writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: "grant_type is required"})
			return
		default:
			writeJSON(w, http.StatusBadRequest, oauthError{Error: "unsupported_grant_type", Description: "only client_credentials is supported, not " + gt})
			return
		}
		tok := s.tokens.issue(svc, s.now())
		s.stats.tokensIssued.Add(1)
		// An OAuth token answer must not be cached (RFC 6749, section 5.1).
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, tokenAnswer{
			TokenType:   "bearer",
			AccessToken: tok,
			ExpiresIn:   int64(s.cfg.TokenTTL / time.Second),
		})
	})
}

func sameSecret(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// authorize answers 401 and reports false unless r carries a live bearer
// token of svc.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, svc service, now time.Time) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") && s.tokens.valid(strings.TrimSpace(tok), svc, now) {
		return true
	}
	s.stats.unauthorized.Add(1)
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	writeError(w, http.StatusUnauthorized, "missing, expired or invalid bearer token for the "+svc.String()+" service")
	return false
}
