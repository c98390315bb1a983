package enablenow

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/internal/configcheck"
)

// Config configures a Server. Zero values take the defaults documented on
// each field; Validate says which values cannot be used.
type Config struct {
	// Token is the credential every API request must carry. Required.
	Token string
	// AuthHeader names the header carrying the credential; default
	// "Authorization", which expects "Bearer <Token>". Any other header
	// expects the raw Token as its value (API-key style), because the
	// reference does not say which of the two EnableNow uses.
	AuthHeader string
	// StatusSteps are the statuses a job moves through, the last one being
	// where a successful job ends; default Queued, Running, Completed. The
	// reference documents no status word: these are the stand-in's, and a
	// test sets words a client does not know to see it survive them.
	StatusSteps []string
	// FailedStatus is where a failing job ends; default StatusFailed.
	FailedStatus string
	// OmitStatus leaves the status out of every job answer, as an API that
	// names its jobs without saying how they are would.
	OmitStatus bool
	// CreateAnswer is how a creation is answered. The reference does not
	// show the answer: CreateAnswerResource (default) answers 201 with the
	// job and its Location; the others name no job at all.
	CreateAnswer CreateAnswer
	// Engines, when not empty, are the only engines served; another is
	// refused with 400. Empty (default): any engine is taken, the rules of
	// e1 applying to e1 only, as the reference gives them.
	Engines []string
	// StepInterval is how long a job stays in each step; default 100ms.
	StepInterval time.Duration
	// FailShare is the share (0..1) of jobs that end StatusFailed instead of
	// the last step. It is decided when the job is created, so every read of
	// a job tells the same story.
	FailShare float64
	// ResetAfterCreateShare is the share (0..1) of newly created jobs whose
	// answer is lost: the connection is reset after the job exists. It can
	// be changed at run time (SetResetAfterCreateShare, PUT /faults/after-create).
	ResetAfterCreateShare float64
	// IdempotencyWindow is how long an Idempotency-Key is remembered after
	// the job it created; default 24h.
	IdempotencyWindow time.Duration
	// MaxIdempotencyKeys bounds the remembered keys; the oldest is forgotten
	// first, even inside its window. Default 100000.
	MaxIdempotencyKeys int
	// MaxJobs bounds the jobs kept for GET, Jobs and Stats; the oldest is
	// dropped first. Default 100000, so a soak test cannot exhaust memory.
	MaxJobs int
	// Faults are the initial generic faults (package fault) on the API routes.
	Faults fault.Settings
	// Revoked starts the stand-in with the credential revoked: every API
	// request carrying it is answered 403 (permissions.go). Changed at run
	// time with SetRevoked.
	Revoked bool
	// ForbiddenSubjects are the subjects (a consentId, userId,
	// externalUserId or account id) the credential may not categorize:
	// creating or reading a job for one is answered 403 while every other
	// request works (permissions.go). Changed at run time with
	// SetForbiddenSubjects.
	ForbiddenSubjects []string
	// Now is the clock; default time.Now. Tests set it to move jobs through
	// their statuses and keys out of their window without waiting.
	Now func() time.Time
}

// CreateAnswer is how the stand-in answers a job creation.
type CreateAnswer string

const (
	// CreateAnswerResource answers 201 Created with the job (id, status,
	// the request's fields) and a Location naming it.
	CreateAnswerResource CreateAnswer = ""
	// CreateAnswerEmpty answers 202 Accepted with no body and no Location.
	CreateAnswerEmpty CreateAnswer = "empty"
	// CreateAnswerNoID answers 201 with the job's status and fields, but
	// no id and no Location.
	CreateAnswerNoID CreateAnswer = "no-id"
)

// Defaults, in one place.
const (
	defaultAuthHeader         = "Authorization"
	defaultStepInterval       = 100 * time.Millisecond
	defaultIdempotencyWindow  = 24 * time.Hour
	defaultMaxIdempotencyKeys = 100_000
	defaultMaxJobs            = 100_000
)

// StatusFailed is the final status of a job chosen to fail by FailShare.
const StatusFailed = "Failed"

// DefaultStatusSteps are the statuses a job moves through when
// Config.StatusSteps is empty.
func DefaultStatusSteps() []string { return []string{"Queued", "Running", "Completed"} }

// ConfigError is returned (possibly several, joined) by New and
// Config.Validate for a setting that cannot be used.
type ConfigError struct {
	Key    string // the Config field
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("enablenow: config %s: %s", e.Key, e.Reason)
}

// withDefaults fills every zero value that has a default.
func (c Config) withDefaults() Config {
	c.AuthHeader = cmp.Or(c.AuthHeader, defaultAuthHeader)
	if len(c.StatusSteps) == 0 {
		c.StatusSteps = DefaultStatusSteps()
	} else {
		// Copy, so a caller reusing its slice cannot change a running server.
		c.StatusSteps = append([]string(nil), c.StatusSteps...)
	}
	c.FailedStatus = cmp.Or(c.FailedStatus, StatusFailed)
	c.StepInterval = cmp.Or(c.StepInterval, defaultStepInterval)
	c.IdempotencyWindow = cmp.Or(c.IdempotencyWindow, defaultIdempotencyWindow)
	c.MaxIdempotencyKeys = cmp.Or(c.MaxIdempotencyKeys, defaultMaxIdempotencyKeys)
	c.MaxJobs = cmp.Or(c.MaxJobs, defaultMaxJobs)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports every setting that cannot be used, after defaults, as
// *ConfigError values joined together.
func (c Config) Validate() error {
	c = c.withDefaults()
	var t configcheck.Table
	t.Check("Token", c.Token == "", "is required")
	// A token with spaces or control characters cannot survive a trip
	// through an HTTP header unchanged, so no client could ever match it.
	t.Check("Token", c.Token != "" && !isHeaderValueToken(c.Token), "must not contain spaces or control characters")
	t.Check("AuthHeader", !isHeaderName(c.AuthHeader), fmt.Sprintf("%q is not a valid header name", c.AuthHeader))
	t.Check("StatusSteps", stepsProblem(c.StatusSteps, c.FailedStatus) != "", stepsProblem(c.StatusSteps, c.FailedStatus))
	t.Check("CreateAnswer", c.CreateAnswer != CreateAnswerResource && c.CreateAnswer != CreateAnswerEmpty && c.CreateAnswer != CreateAnswerNoID,
		fmt.Sprintf("%q is not empty, no-id or the default", c.CreateAnswer))
	t.Check("Engines", slices.Contains(c.Engines, ""), "an engine must not be empty")
	t.Check("ForbiddenSubjects", slices.Contains(c.ForbiddenSubjects, ""), "a subject must not be empty")
	t.Check("StepInterval", c.StepInterval < 0, "must not be negative")
	t.Check("FailShare", !isShare(c.FailShare), "must be between 0 and 1")
	t.Check("ResetAfterCreateShare", !isShare(c.ResetAfterCreateShare), "must be between 0 and 1")
	t.Check("IdempotencyWindow", c.IdempotencyWindow < 0, "must not be negative")
	t.Check("MaxIdempotencyKeys", c.MaxIdempotencyKeys < 0, "must not be negative")
	t.Check("MaxJobs", c.MaxJobs < 0, "must not be negative")
	return t.Errors(c.Faults, func(key, reason string) error { return &ConfigError{Key: key, Reason: reason} })
}

// isShare also rejects NaN, which compares false with everything.
func isShare(v float64) bool { return v >= 0 && v <= 1 }

func stepsProblem(steps []string, failed string) string {
	seen := make(map[string]bool, len(steps))
	for _, s := range steps {
		switch {
		case strings.TrimSpace(s) == "":
			return "a step must not be empty"
		case s == failed:
			// Failed must mean the job failed; as a step every job would
			// pass through it.
			return fmt.Sprintf("%q is reserved for failed jobs", failed)
		case seen[s]:
			// A repeated step would make the progression ambiguous to a
			// client waiting for a status change.
			return fmt.Sprintf("step %q is repeated", s)
		}
		seen[s] = true
	}
	return ""
}

// isHeaderName reports whether s is an RFC 9110 token, the syntax of a
// header field name.
func isHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isHeaderValueToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// usesBearer reports whether the credential is sent as "Bearer <token>".
func (c Config) usesBearer() bool {
	return http.CanonicalHeaderKey(c.AuthHeader) == defaultAuthHeader
}
