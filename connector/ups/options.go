package ups

import "time"

// Options configure a client of the UPS Enrichment API (NewClient). Every
// field is used as given: the connector's config (package service) fills
// the defaults.
type Options struct {
	// BaseURL is the gateway host, e.g. https://gateway.richrelevance.com.
	BaseURL  string
	APIKey   string
	ClientID string
	// ClientSecret is the OAuth client secret. Nothing the client prints
	// shows it.
	ClientSecret string
	// TokenStyle is where the token requests carry the credentials.
	TokenStyle TokenStyle
	// Paths are the API's paths, relative to BaseURL.
	Paths Paths
	// Statuses are the job-status words the client reads.
	Statuses StatusWords
	// Timeout bounds one request.
	Timeout time.Duration
	// UpdatesPerSecond caps user updates (records) per second across all
	// collections of the API key; Headroom is the share of it used.
	UpdatesPerSecond int
	Headroom         float64
	// MaxRecords bounds one request; the Pacer's bucket holds at least one.
	MaxRecords int
	// MaxOpenJobs bounds the jobs followed at once (bounded memory).
	MaxOpenJobs int
}

// Paths are the UPS paths, {apiKey}, {collection} and {jobId} replaced.
// The reference gives them all; they are settings because its examples do
// not agree with each other (the status path is shown with and without
// "/events", the enrichment path under /attributes and under the
// collection's name).
type Paths struct {
	Enrich      string // POST; default DefaultPaths().Enrich
	Status      string // GET
	Token       string // the enrichment service's token
	StatusToken string // the status service's token
}

// DefaultPaths are the paths of the reference.
func DefaultPaths() Paths {
	return Paths{
		Enrich:      "/attributes/api/v1/{apiKey}/{collection}",
		Status:      "/common-status/v1/{apiKey}/job/{jobId}/events",
		Token:       attributesTokenPath,
		StatusToken: statusTokenPath,
	}
}

// StatusWords are the job-status words that end a job. The reference
// shows only FAILED; the others are the usual words for the same states.
// Any other word, or none, is a job not ended: it is read again until the
// job timeout, and then published UNVERIFIED, never sent again. Words are
// compared without regard to case.
type StatusWords struct {
	// Completed words: the job's records were applied.
	Completed []string
	// Failed words: the job's records were not applied and are sent again.
	Failed []string
}

// DefaultStatusWords are the reference's FAILED and the usual words.
// Failure words beyond FAILED are the usual ones too: reading one as a
// failure sends the records again, which the API's replace semantics make
// harmless, where reading it as unknown would commit records never applied.
func DefaultStatusWords() StatusWords {
	return StatusWords{
		Completed: []string{"COMPLETED", "SUCCESS", "SUCCEEDED", "DONE", "FINISHED"},
		Failed:    []string{"FAILED", "FAILURE", "ERROR", "ABORTED", "CANCELLED", "CANCELED"},
	}
}
