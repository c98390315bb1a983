package enablenow

import (
	"log/slog"
	"time"

	"github.com/contactlab/connector/connector/internal/credprobe"
)

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
	// Forbidden says what a 403 means, which the reference leaves open:
	// ForbiddenProbe ("" too) asks a cheap read the credential may make
	// (ProbePath) and, when it works before the request is asked once more
	// and after it is refused again, takes the 403 for the record's own
	// (the creation is dead-lettered, the job no longer followed);
	// ForbiddenPause takes every 403 for a refused credential.
	Forbidden string
	// ProbePath ({id} replaced) is that cheap read, a GET; empty means
	// JobStatusPath. With {id} it reads a job this client was last told
	// about, else (or when that read is refused) a job id that names no
	// job (ProbeJobID), whose 404 shows the credential was accepted.
	// Without {id}, only a 2xx shows it.
	ProbePath string
	// Logger gets the client's warnings (a 403 the probe could not place);
	// nil means slog.Default().
	Logger *slog.Logger
}

// The readings of a 403 (Options.Forbidden).
const (
	ForbiddenProbe = credprobe.Probe
	ForbiddenPause = credprobe.Pause
)

// ProbeJobID is the job id the probe reads when it knows of no job: the nil
// UUID, shaped as the ids the reference shows and never a job's.
const ProbeJobID = "00000000-0000-0000-0000-000000000000"

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
