package enablenow

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/contactlab/connector/connector/sandbox/fault"
)

// Server is the EnableNow stand-in. It holds no goroutines, so it needs no
// Close; stopping the HTTP server that serves Handler is enough.
type Server struct {
	cfg         Config // defaults applied; read-only after New
	bearer      bool   // the credential is "Bearer <token>", not the raw token
	progression progression
	jobs        *jobStore
	faults      *fault.Injector
	stats       counters
	// resetAfterCreate holds math.Float64bits of the share, so the request
	// path reads it without a lock while tests change it.
	resetAfterCreate atomic.Uint64
	// perms is what the credential may do (permissions.go), read without a
	// lock on the request path; permMu orders the setters.
	perms   atomic.Pointer[permissions]
	permMu  sync.Mutex
	handler http.Handler
}

// New returns a Server for cfg, or the *ConfigError values of every setting
// that cannot be used.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:         cfg,
		bearer:      cfg.usesBearer(),
		progression: progression{steps: cfg.StatusSteps, failed: cfg.FailedStatus, interval: cfg.StepInterval},
		jobs:        newJobStore(cfg),
		faults:      fault.New(cfg.Faults),
	}
	s.storeResetAfterCreate(cfg.ResetAfterCreateShare)
	s.perms.Store(&permissions{})
	s.SetRevoked(cfg.Revoked)
	s.SetForbiddenSubjects(cfg.ForbiddenSubjects...)

	api := http.NewServeMux()
	api.HandleFunc("POST /v2/categorization-jobs", s.createJob)
	api.HandleFunc("GET /v2/categorization-jobs/{id}", s.getJob)

	mux := http.NewServeMux()
	// Faults come first, as a proxy or load balancer in front of the real
	// API would fail before it checks credentials.
	mux.Handle("/v2/", s.faults.Wrap(s.authenticate(api)))
	// The control routes carry no faults and no credential, so a test can
	// always observe and repair the sandbox.
	mux.HandleFunc("GET /stats", s.serveStats)
	mux.Handle("/faults", s.faults.Handler())
	mux.HandleFunc("/faults/after-create", s.serveAfterCreate)
	s.handler = mux
	return s, nil
}

// Handler serves the API and the control routes, with paths relative to the
// EnableNow base URL.
func (s *Server) Handler() http.Handler { return s.handler }

// Faults returns the injector of the generic faults on the API routes.
func (s *Server) Faults() *fault.Injector { return s.faults }

// authenticate refuses requests without the configured credential (401),
// and every request when that credential is revoked (403). The comparison
// takes constant time, as a real credential check should, so the stand-in
// is no worse an example than what it stands for.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r.Header.Get(s.cfg.AuthHeader)) {
			s.stats.unauthorized.Add(1)
			if s.bearer {
				w.Header().Set("WWW-Authenticate", `Bearer realm="enablenow"`)
			}
			writeError(w, http.StatusUnauthorized, apiError{
				Message: fmt.Sprintf("missing or invalid credential in %s", s.cfg.AuthHeader),
			})
			return
		}
		if s.refuseRevoked(w) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) authorized(value string) bool {
	credential := value
	if s.bearer {
		// RFC 9110: the scheme is case-insensitive.
		scheme, token, ok := strings.Cut(value, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return false
		}
		credential = token
	}
	return subtle.ConstantTimeCompare([]byte(credential), []byte(s.cfg.Token)) == 1
}

// apiError is the error body of every API answer of the stand-in.
type apiError struct {
	Message string       `json:"message"`
	Errors  []fieldError `json:"errors,omitempty"`
}

// fieldError names one broken rule and where it applies: a JSONPath into the
// request body ("$.profile"), or a header name.
type fieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, e apiError) {
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The status line is gone; an encoding error can only be a broken
	// connection, which the client sees anyway.
	_ = json.NewEncoder(w).Encode(v)
}
