package ups

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/internal/configcheck"
)

// Defaults, in one place; they are the reference's figures.
const (
	DefaultTokenTTL         = 8 * time.Hour
	DefaultUpdatesPerSecond = 1000
	DefaultMaxRecords       = 1000
	DefaultMaxBodyBytes     = 50 * 1024
	DefaultJobDuration      = 200 * time.Millisecond
)

// NoLimit lifts a limit in Config. It is needed because a zero there means
// the reference's default, so that the zero Config behaves like production.
const NoLimit = -1

// Config configures a Server. Zero values take the defaults documented on
// each field.
type Config struct {
	// ClientID and ClientSecret are the client credentials the token
	// endpoints accept. Required.
	ClientID, ClientSecret string
	// APIKey is the one apiKey served; requests for any other get 404.
	// Required.
	APIKey string
	// TokenTTL is how long a token is valid; default DefaultTokenTTL. The
	// token answer reports it in whole seconds, rounded down.
	TokenTTL time.Duration
	// UpdatesPerSecond is how many records (user updates) per second the
	// apiKey may send, all collections together; the burst is one second's
	// worth. Default DefaultUpdatesPerSecond; NoLimit lifts it.
	UpdatesPerSecond int
	// MaxRecords is the most records one POST may carry; default
	// DefaultMaxRecords; NoLimit lifts it.
	MaxRecords int
	// MaxBodyBytes is the largest body, as sent (compressed); default
	// DefaultMaxBodyBytes; NoLimit lifts it.
	MaxBodyBytes int
	// JobFailShare is the share (0..1) of accepted jobs that end FAILED. It
	// is decided when the job is accepted, so every read tells one story.
	JobFailShare float64
	// JobDuration is how long a job stays RUNNING; default DefaultJobDuration.
	JobDuration time.Duration
	// RunningStatus, CompletedStatus and FailedStatus are the job-status
	// words of the status service. The reference shows FAILED only, which
	// is FailedStatus's default; RunningStatus defaults to RUNNING and
	// CompletedStatus to COMPLETED, and a test sets words a client may not
	// know, to show it survives them.
	RunningStatus, CompletedStatus, FailedStatus string
	// TokenStyle is where the token endpoints take the client credentials
	// from: TokenStyleAny (default), TokenStyleForm or TokenStyleQuery.
	TokenStyle TokenStyle
	// Faults are the initial fault settings of the API routes.
	Faults fault.Settings
}

// TokenStyle says where a token request carries the client credentials.
// The reference shows both: its curl example sends form fields, its prose
// a query string.
type TokenStyle string

const (
	// TokenStyleAny takes form fields, query parameters or HTTP Basic.
	TokenStyleAny TokenStyle = ""
	// TokenStyleForm takes form fields in the body only, as the
	// reference's curl example sends them.
	TokenStyleForm TokenStyle = "form"
	// TokenStyleQuery takes query parameters only, as the reference's
	// prose and sample request show them.
	TokenStyleQuery TokenStyle = "query"
)

// Status words of the reference (FAILED) and the stand-in's defaults.
const (
	DefaultRunningStatus   = "RUNNING"
	DefaultCompletedStatus = "COMPLETED"
	DefaultFailedStatus    = "FAILED"
)

// ConfigError says which Config field is wrong and why. New joins one per
// problem, so every mistake is reported at once.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("ups sandbox config: %s: %s", e.Field, e.Reason)
}

// validate checks every bound of the configuration from one table, so a new
// field cannot be added without deciding what is valid for it.
func (c Config) validate() error {
	var t configcheck.Table
	t.Check("ClientID", c.ClientID == "", "is required")
	t.Check("ClientSecret", c.ClientSecret == "", "is required")
	t.Check("APIKey", c.APIKey == "", "is required")
	// It is a path segment of every API route.
	t.Check("APIKey", !isPathSegment(c.APIKey), "must be one URL path segment (no '/', '?', '#' or '%')")
	t.Check("TokenTTL", c.TokenTTL < 0, "must be >= 0 (0 means the default)")
	t.Check("UpdatesPerSecond", c.UpdatesPerSecond < NoLimit, "must be >= 0, or NoLimit")
	t.Check("MaxRecords", c.MaxRecords < NoLimit, "must be >= 0, or NoLimit")
	t.Check("MaxBodyBytes", c.MaxBodyBytes < NoLimit, "must be >= 0, or NoLimit")
	t.Check("JobFailShare", !isShare(c.JobFailShare), "must be within 0..1")
	t.Check("JobDuration", c.JobDuration < 0, "must be >= 0 (0 means the default)")
	w := c.withDefaults()
	t.Check("RunningStatus", w.RunningStatus == w.CompletedStatus || w.RunningStatus == w.FailedStatus || w.CompletedStatus == w.FailedStatus,
		"the running, completed and failed words must differ")
	t.Check("TokenStyle", c.TokenStyle != TokenStyleAny && c.TokenStyle != TokenStyleForm && c.TokenStyle != TokenStyleQuery,
		fmt.Sprintf("%q is not form, query or empty (any)", c.TokenStyle))
	return t.Errors(c.Faults, func(field, reason string) error { return &ConfigError{Field: field, Reason: reason} })
}

// withDefaults fills every zero value that has a default.
func (c Config) withDefaults() Config {
	c.TokenTTL = cmp.Or(c.TokenTTL, DefaultTokenTTL)
	c.UpdatesPerSecond = cmp.Or(c.UpdatesPerSecond, DefaultUpdatesPerSecond)
	c.MaxRecords = cmp.Or(c.MaxRecords, DefaultMaxRecords)
	c.MaxBodyBytes = cmp.Or(c.MaxBodyBytes, DefaultMaxBodyBytes)
	c.JobDuration = cmp.Or(c.JobDuration, DefaultJobDuration)
	c.RunningStatus = cmp.Or(c.RunningStatus, DefaultRunningStatus)
	c.CompletedStatus = cmp.Or(c.CompletedStatus, DefaultCompletedStatus)
	c.FailedStatus = cmp.Or(c.FailedStatus, DefaultFailedStatus)
	return c
}

func isShare(f float64) bool { return f >= 0 && f <= 1 && !math.IsNaN(f) }

func isPathSegment(s string) bool {
	for _, r := range s {
		switch r {
		case '/', '?', '#', '%':
			return false
		}
	}
	return true
}

// Server is the UPS Enrichment stand-in. All its methods are safe for
// concurrent use.
type Server struct {
	cfg     Config
	faults  *fault.Injector
	tokens  *tokenStore
	limiter recordLimiter
	// maxRecords and maxBodyBytes change at run time (SetLimits); 0 or less
	// means unlimited.
	maxRecords   atomic.Int64
	maxBodyBytes atomic.Int64
	jobs         *jobRegistry
	store        *valueStore
	stats        counters
	handler      http.Handler
	// now is the clock of tokens, throttling and jobs; tests replace it
	// before traffic starts to move time without sleeping.
	now func() time.Time
}

// New validates cfg and returns a Server. It starts no goroutines.
func New(cfg Config) (*Server, error) { return newServer(cfg, time.Now) }

// newServer is New with a clock of the caller's, so that tests move time
// for tokens, throttling and jobs alike, from the first moment on.
func newServer(cfg Config, now func() time.Time) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	store := newValueStore()
	s := &Server{
		cfg:    cfg,
		faults: fault.New(cfg.Faults),
		tokens: newTokenStore(cfg.TokenTTL),
		jobs:   newJobRegistry(cfg.JobDuration, cfg.JobFailShare, store),
		store:  store,
		now:    now,
	}
	s.SetLimits(cfg.UpdatesPerSecond, cfg.MaxRecords, cfg.MaxBodyBytes)
	s.handler = s.routes()
	return s, nil
}

// Handler serves the API relative to the host (/attributes/api/v1/...,
// /common-status/v1/...), plus /stats and /faults.
func (s *Server) Handler() http.Handler { return s.handler }

// Faults returns the injector in front of the API routes, for tests that
// change faults without going through HTTP.
func (s *Server) Faults() *fault.Injector { return s.faults }

// SetLimits replaces the throttling and payload limits at run time. Unlike
// Config, where zero means the default, here zero (or less) lifts a limit:
// a caller setting limits says exactly what they are.
func (s *Server) SetLimits(updatesPerSecond, maxRecords, maxBodyBytes int) {
	s.limiter.setRate(max(updatesPerSecond, 0), s.now())
	s.maxRecords.Store(int64(max(maxRecords, 0)))
	s.maxBodyBytes.Store(int64(max(maxBodyBytes, 0)))
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := s.faults.Wrap
	mux.Handle("POST /attributes/api/v1/oauth2/token", s.tokenRoute(s.issueToken(attributesService)))
	mux.Handle("POST /common-status/v1/oauth2/token", s.tokenRoute(s.issueToken(statusService)))
	mux.Handle("POST /attributes/api/v1/{apiKey}/{collection}", api(s.enrich(false)))
	mux.Handle("PUT /attributes/api/v1/{apiKey}/{collection}", api(s.enrich(true)))
	mux.Handle("GET /common-status/v1/{apiKey}/job/{jobId}/events", api(http.HandlerFunc(s.jobEvents)))
	// The method-less patterns only catch the wrong methods (the ones above
	// are more specific), so that a 405 has the API's error shape too. The
	// attributes token path gets none: a method-less literal path would
	// conflict with the method-bound enrichment routes, and the wildcard one
	// below answers its wrong methods anyway.
	for _, p := range []string{
		"/common-status/v1/oauth2/token",
		"/attributes/api/v1/{apiKey}/{collection}",
		"/common-status/v1/{apiKey}/job/{jobId}/events",
	} {
		mux.HandleFunc(p, methodNotAllowed)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such resource: "+r.URL.Path)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("/stats", methodNotAllowed)
	// One user's stored value in one collection and how many updates of the
	// user were applied.
	mux.HandleFunc("GET /stats/{collection}/{userId}", func(w http.ResponseWriter, r *http.Request) {
		c, ok := parseCollection(r.PathValue("collection"))
		if !ok {
			writeError(w, http.StatusNotFound, "unknown collection "+strconv.Quote(r.PathValue("collection")))
			return
		}
		v, n, ok := s.Stored(c, r.PathValue("userId"))
		if !ok {
			writeError(w, http.StatusNotFound, "nothing stored for this user")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": v, "updates": n})
	})
	mux.Handle("/faults", s.faults.Handler())
	return mux
}

// tokenRoute applies the faults to a token endpoint, except the 401 window:
// that window simulates tokens being rejected, and a client must be able to
// get a new one to show it recovers.
func (s *Server) tokenRoute(next http.Handler) http.Handler {
	withFaults := s.faults.Wrap(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.faults.Unauthorized() {
			next.ServeHTTP(w, r)
			return
		}
		withFaults.ServeHTTP(w, r)
	})
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusMethodNotAllowed, "method not allowed: "+r.Method)
}

// apiError is the error body of the enrichment and status services. Errors
// lists the bad records of a rejected payload, so a client can tell which
// records to drop and which to send again.
type apiError struct {
	Message string        `json:"message"`
	Errors  []recordError `json:"errors,omitempty"`
}

type recordError struct {
	Index   int    `json:"index"`
	UserID  string `json:"userId"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := getBuffer()
	defer putBuffer(buf)
	enc := json.NewEncoder(buf)
	// The answers are read by programs, not browsers: "&" in a query-param
	// should read as "&", as in the reference.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only our own types are encoded here; failing means a bug in this package.
		panic(fmt.Sprintf("ups sandbox: encoding %T: %v", v, err))
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
