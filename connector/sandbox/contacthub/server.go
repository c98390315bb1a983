package contacthub

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/internal/configcheck"
)

// DefaultMaxRetainedUpdates bounds the update log when Config.MaxRetainedUpdates
// is zero: enough for hours of generated traffic, small enough (about 1 GB of
// encoded updates at worst) for a laptop.
const DefaultMaxRetainedUpdates = 2_000_000

// Config configures a Server. Zero values of the optional fields disable what
// they control.
type Config struct {
	// WorkspaceID is the one workspace served (a uuid); requests for any
	// other workspace get 404.
	WorkspaceID string
	// Token is the bearer token every workspace request must carry.
	Token string
	// MaxRequestsPerMinute is the initial workspace throttling; 0 disables it.
	MaxRequestsPerMinute int
	// Faults are the initial fault settings of the workspace API.
	Faults fault.Settings

	// NodeID is the entry node (a uuid) the generated customers belong to.
	NodeID string
	// Customers is how many customers the store holds at start; their CREATE
	// updates open the log.
	Customers int
	// ChangesPerSecond is the rate of Run's background generator; 0 turns it off.
	ChangesPerSecond float64
	// MaxRetainedUpdates bounds the update log (older updates are dropped);
	// 0 means DefaultMaxRetainedUpdates.
	MaxRetainedUpdates int
	// Seed makes the generated data reproducible; 0 picks a random seed.
	Seed uint64

	// The settings below choose a reading where the reference is silent, or
	// add what it does not show. Their zero values serve the reference's
	// documented shapes, so that the connector is tested against those.

	// UpdateOffsets adds each update's offset to the update stream's
	// answers ({"offset": n, "operation": ..., "entity": ...}). The
	// reference shows only nextOffset and updates[].operation/entity, so
	// it is off by default: the connector must not need it.
	UpdateOffsets bool
	// MaxEventBytes is Create event's payload limit ("must not exceed
	// 64kB"); 0 reads 64kB as 64 KiB (DefaultMaxEventBytes). 64000 is the
	// other reading.
	MaxEventBytes int
	// MaxPageSize is the largest update stream page size answered; a
	// greater size is refused with 400. 0 means the reference's 4000.
	// Changed at run time with SetMaxPageSize.
	MaxPageSize int
	// AggregateNodes are the ids of the workspace's aggregate nodes. The
	// reference says bringBackProperties are not allowed for them without
	// naming the answer; an event that names one is refused with 403, the
	// one status that tells a client this record may never be sent.
	AggregateNodes []string
	// Forbidden are the operations the token may not use, each answered
	// 403 as for a Contacthub source without that permission: OpEvents,
	// OpThrottling, OpUpdates, OpLastOffset, OpCustomers. Changed at run
	// time with SetForbidden.
	Forbidden []string
}

// DefaultMaxEventBytes is Create event's payload limit when
// Config.MaxEventBytes is 0: the reference's 64kB read as 64 KiB.
const DefaultMaxEventBytes = 64 * 1024

// The operations Config.Forbidden names.
const (
	OpEvents     = "events"      // Create event
	OpThrottling = "throttling"  // Get and Modify the workspace throttling
	OpUpdates    = "updates"     // Get an update stream
	OpLastOffset = "last-offset" // Get the last update offset
	OpCustomers  = "customers"   // the customers resource
)

var operations = []string{OpEvents, OpThrottling, OpUpdates, OpLastOffset, OpCustomers}

// ConfigError says which Config field is wrong and why. New joins one per
// problem, so every mistake is reported at once.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("contacthub sandbox config: %s: %s", e.Field, e.Reason)
}

// validate checks every bound of the configuration from one table, so a new
// field cannot be added without deciding what is valid for it.
func (c Config) validate() error {
	retained := c.MaxRetainedUpdates
	if retained == 0 {
		retained = DefaultMaxRetainedUpdates
	}
	var t configcheck.Table
	t.Check("WorkspaceID", !isUUID(c.WorkspaceID), "must be a uuid")
	t.Check("Token", c.Token == "", "is required")
	t.Check("Token", strings.ContainsAny(c.Token, " \t\r\n"), "must not contain white space (it travels in an Authorization header)")
	t.Check("MaxRequestsPerMinute", c.MaxRequestsPerMinute < 0, "must be >= 0 (0 disables throttling)")
	t.Check("NodeID", !isUUID(c.NodeID), "must be a uuid")
	t.Check("Customers", c.Customers < 0, "must be >= 0")
	// Their CREATE updates would be dropped before anyone could read them.
	t.Check("Customers", retained > 0 && c.Customers > retained, fmt.Sprintf("must not exceed the retained updates (%d)", retained))
	t.Check("ChangesPerSecond", c.ChangesPerSecond < 0 || math.IsNaN(c.ChangesPerSecond) || math.IsInf(c.ChangesPerSecond, 0), "must be a finite number >= 0")
	t.Check("MaxRetainedUpdates", c.MaxRetainedUpdates < 0, "must be >= 0 (0 means the default)")
	t.Check("MaxEventBytes", c.MaxEventBytes < 0, "must be >= 0 (0 means 64 KiB)")
	t.Check("MaxPageSize", c.MaxPageSize < 0 || c.MaxPageSize > maxPageSize, "must be within 0..4000 (0 means 4000)")
	for _, n := range c.AggregateNodes {
		t.Check("AggregateNodes", !isUUID(n), fmt.Sprintf("%q is not a uuid", n))
	}
	for _, op := range c.Forbidden {
		t.Check("Forbidden", !slices.Contains(operations, op), fmt.Sprintf("%q is not one of %s", op, strings.Join(operations, ", ")))
	}
	return t.Errors(c.Faults, func(field, reason string) error { return &ConfigError{Field: field, Reason: reason} })
}

func isUUID(s string) bool {
	_, err := uuid.Parse(s)
	// uuid.Parse also takes the urn: and {braced} forms; the API only ever
	// shows the 36-character one.
	return err == nil && len(s) == 36
}

func isShare(f float64) bool { return f >= 0 && f <= 1 }

// Server is the Contacthub stand-in. All its methods are safe for concurrent use.
type Server struct {
	cfg      Config
	faults   *fault.Injector
	throttle throttle
	log      *updateLog
	gen      *generator
	stats    stats
	handler  http.Handler
	// forbidden and pageLimit are the run-time settings (SetForbidden,
	// SetMaxPageSize).
	forbidden atomic.Pointer[map[string]bool]
	pageLimit atomic.Int64
	// now is the clock of the update log; tests replace it before traffic
	// starts to place updates at chosen times.
	now func() time.Time
}

// New validates cfg and returns a Server whose store already holds
// cfg.Customers customers. It starts no goroutines.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.MaxRetainedUpdates == 0 {
		cfg.MaxRetainedUpdates = DefaultMaxRetainedUpdates
	}
	if cfg.MaxEventBytes == 0 {
		cfg.MaxEventBytes = DefaultMaxEventBytes
	}
	s := &Server{
		cfg:    cfg,
		faults: fault.New(cfg.Faults),
		log:    newUpdateLog(cfg.MaxRetainedUpdates, cfg.UpdateOffsets),
		gen:    newGenerator(cfg.NodeID, cfg.Seed),
		now:    time.Now,
	}
	s.stats.init()
	s.throttle.set(cfg.MaxRequestsPerMinute)
	s.SetForbidden(cfg.Forbidden...)
	s.SetMaxPageSize(cfg.MaxPageSize)
	s.handler = s.routes()
	s.gen.seedCustomers(s, cfg.Customers)
	return s, nil
}

// Handler serves the API relative to the Contacthub base URL, plus /stats
// and /faults.
func (s *Server) Handler() http.Handler { return s.handler }

// Faults returns the injector in front of the workspace API, for tests that
// change faults without going through HTTP.
func (s *Server) Faults() *fault.Injector { return s.faults }

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	api.Handle("POST /workspaces/{ws}/events", s.workspace(OpEvents, http.HandlerFunc(s.createEvent)))
	api.Handle("GET /workspaces/{ws}/configuration/throttling", s.workspace(OpThrottling, http.HandlerFunc(s.getThrottling)))
	api.Handle("PUT /workspaces/{ws}/configuration/throttling", s.workspace(OpThrottling, http.HandlerFunc(s.putThrottling)))
	api.Handle("GET /workspaces/{ws}/updates", s.workspace(OpUpdates, http.HandlerFunc(s.getUpdates)))
	api.Handle("GET /workspaces/{ws}/updates/last-offset", s.workspace(OpLastOffset, http.HandlerFunc(s.getLastOffset)))
	s.routeCustomers(api)
	// The method-less patterns only catch the wrong methods (the ones above
	// are more specific), so that a 405 has the API's error shape too.
	for _, p := range []string{
		"/workspaces/{ws}/events",
		"/workspaces/{ws}/configuration/throttling",
		"/workspaces/{ws}/updates",
		"/workspaces/{ws}/updates/last-offset",
	} {
		api.HandleFunc(p, methodNotAllowed)
	}
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such resource: "+r.URL.Path, nil)
	})

	root := http.NewServeMux()
	root.Handle("/", s.faults.Wrap(api))
	root.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	root.HandleFunc("/stats", methodNotAllowed)
	root.Handle("/faults", s.faults.Handler())
	return root
}

// workspace runs the checks every workspace request of operation op goes
// through, in a fixed order: who is asking, whether the workspace is
// theirs, whether they may use op, whether the workspace has budget left.
// Authentication comes first so a stranger learns nothing about the
// workspace and cannot spend its throttling budget.
func (s *Server) workspace(op string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			s.stats.unauthorized.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer realm="contacthub"`) // RFC 6750
			writeError(w, http.StatusUnauthorized, "missing or invalid bearer token", nil)
			return
		}
		if r.PathValue("ws") != s.cfg.WorkspaceID {
			writeError(w, http.StatusNotFound, "workspace not found: "+r.PathValue("ws"), nil)
			return
		}
		if (*s.forbidden.Load())[op] {
			s.stats.forbidden.Add(1)
			writeError(w, http.StatusForbidden, "the token may not use "+op, nil)
			return
		}
		if wait, ok := s.throttle.allow(); !ok {
			s.stats.throttled.Add(1)
			w.Header().Set("Retry-After", retryAfterSeconds(wait))
			writeError(w, http.StatusTooManyRequests, "workspace throttling: too many requests", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// SetForbidden replaces the operations the token may not use
// (Config.Forbidden); unknown names are ignored.
func (s *Server) SetForbidden(ops ...string) {
	m := make(map[string]bool, len(ops))
	for _, op := range ops {
		m[op] = true
	}
	s.forbidden.Store(&m)
}

// SetMaxPageSize changes the largest update stream page size answered
// (Config.MaxPageSize); n <= 0 or above 4000 means 4000.
func (s *Server) SetMaxPageSize(n int) {
	if n <= 0 || n > maxPageSize {
		n = maxPageSize
	}
	s.pageLimit.Store(int64(n))
}

func (s *Server) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(token), []byte(s.cfg.Token)) == 1
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusMethodNotAllowed, "method not allowed: "+r.Method, nil)
}

// apiError is the error body of the Contacthub API.
type apiError struct {
	Message string       `json:"message"`
	Logref  string       `json:"logref"`
	Errors  []fieldError `json:"errors,omitempty"`
}

type fieldError struct {
	Message string `json:"message"`
	Path    string `json:"path"`
}

func writeError(w http.ResponseWriter, status int, msg string, errs []fieldError) {
	// A fresh logref per answer, as the real API does, so a test log line
	// can be matched to the exact request that failed.
	writeJSON(w, status, apiError{Message: msg, Logref: uuid.NewString(), Errors: errs})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types are encoded here; failing means a bug in this package.
		panic(fmt.Sprintf("contacthub sandbox: encoding %T: %v", v, err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
