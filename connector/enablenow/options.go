package enablenow

import "time"

// Options configure a client of the EnableNow categorization API
// (NewClient). Every field is used as given: the connector's config
// (package service) fills the defaults.
type Options struct {
	BaseURL string
	// Token is the credential. Nothing the client prints shows it.
	Token string
	// Timeout bounds one request.
	Timeout time.Duration
	// AuthHeader carries the credential, AuthScheme prefixing it when not
	// empty ("Bearer"; empty for API-key headers).
	AuthHeader string
	AuthScheme string
	// JobsPath and JobStatusPath ({id} replaced) are the API's paths.
	JobsPath      string
	JobStatusPath string
	// TerminalStatuses are the job statuses after which a job changes no
	// more (compared case-insensitively). The reference documents none.
	TerminalStatuses []string
	// CompletedStatuses and FailedStatuses say how a job ended, among the
	// terminal statuses: its Outcome is "completed" or "failed", and empty
	// for a terminal status in neither list.
	CompletedStatuses []string
	FailedStatuses    []string
}

// Outcomes of a job, as JobResult.Outcome carries them.
const (
	// OutcomeCreated: the creation was answered (2xx) without naming a
	// job; there is nothing to follow, and the request is done.
	OutcomeCreated = "created"
	// OutcomeCompleted and OutcomeFailed: the job ended with a status of
	// CompletedStatuses or FailedStatuses.
	OutcomeCompleted = "completed"
	OutcomeFailed    = "failed"
)
