package ups

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/connector/internal/jobs"
	"github.com/contactlab/connector/connector/internal/statuswords"
	"github.com/contactlab/connector/schemas"
)

// statusPageRows is the page size asked of the status service. A job's
// outcome is in the summary that heads every page, so pages after the first
// are read only for the error messages of a FAILED job.
const statusPageRows = 100

// Client talks to the UPS Enrichment API of one API key: the enrichment
// and status services, each with its token. It also carries what every UPS
// sink of the process shares, because the API limits the API key, not the
// collection: the Pacer and the bound on open jobs. It is safe for
// concurrent use.
type Client struct {
	http   *httpapi.Client
	base   string
	apiKey string
	paths  Paths
	// enrichRoute and statusRoute name the calls in errors and metrics,
	// never holding the apiKey's value or a token.
	enrichRoute string
	statusRoute string
	completed   statuswords.Set
	failed      statuswords.Set
	enrichToken *TokenSource
	statusToken *TokenSource
	pacer       *Pacer
	// places bound the open jobs of the API key, across the job followers
	// of every sink of the client.
	places *jobs.Places
}

// NewClient builds the client of cfg (defaults applied); it sends nothing
// until used.
func NewClient(cfg Options, m *httpapi.Metrics) *Client {
	hc := httpapi.New(httpapi.Config{API: "ups", Timeout: cfg.Timeout, Metrics: m})
	base := strings.TrimRight(cfg.BaseURL, "/")
	secret := cfg.ClientSecret
	pace := float64(cfg.UpdatesPerSecond) * cfg.Headroom
	paths := cfg.Paths
	def := DefaultPaths()
	paths.Enrich = cmp.Or(paths.Enrich, def.Enrich)
	paths.Status = cmp.Or(paths.Status, def.Status)
	paths.Token = cmp.Or(paths.Token, def.Token)
	paths.StatusToken = cmp.Or(paths.StatusToken, def.StatusToken)
	words := cfg.Statuses
	if len(words.Completed) == 0 && len(words.Failed) == 0 {
		words = DefaultStatusWords()
	}
	return &Client{
		http:        hc,
		base:        base,
		apiKey:      cfg.APIKey,
		paths:       paths,
		enrichRoute: "POST " + paths.Enrich,
		statusRoute: "GET " + paths.Status,
		completed:   statuswords.New(words.Completed),
		failed:      statuswords.New(words.Failed),
		enrichToken: NewTokenSource(base, paths.Token, cfg.TokenStyle, cfg.ClientID, secret, hc.HTTPClient()),
		statusToken: NewTokenSource(base, paths.StatusToken, cfg.TokenStyle, cfg.ClientID, secret, hc.HTTPClient()),
		// The bucket holds one second's worth, like the API's, and at least
		// one full request.
		pacer:  NewPacer(pace, max(int(pace), cfg.MaxRecords), cfg.MaxRecords),
		places: jobs.NewPlaces(cfg.MaxOpenJobs),
	}
}

// Pacer is the pacer shared by every sink of this client.
func (c *Client) Pacer() *Pacer { return c.pacer }

// String never shows a credential.
func (c *Client) String() string { return fmt.Sprintf("ups(%s)", c.base) }

// OpenJobs is how many places among the API key's open jobs are taken.
func (c *Client) OpenJobs() int { return c.places.Taken() }

// Accepted is the enrichment service's answer to an accepted request.
type Accepted struct {
	Version int64  `json:"version"`
	JobID   string `json:"jobId"`
	Message string `json:"message"`
}

// Enrich posts a gzip-compressed enrichment body to collection c and returns
// the job the API created.
func (c *Client) Enrich(ctx context.Context, coll schemas.Collection, body []byte) (Accepted, error) {
	u := c.base + strings.NewReplacer("{apiKey}", url.PathEscape(c.apiKey), "{collection}", url.PathEscape(string(coll))).Replace(c.paths.Enrich)
	var out Accepted
	err := c.withToken(ctx, c.enrichToken, func(auth string) error {
		h := http.Header{
			"Authorization":    {auth},
			"Content-Type":     {"application/json"},
			"Content-Encoding": {"gzip"},
		}
		_, err := c.http.JSON(ctx, http.MethodPost, u, c.enrichRoute, h, body, &out)
		return err
	})
	if err != nil {
		return Accepted{}, err
	}
	if out.JobID == "" {
		// Accepted without a job to follow: the records' fate cannot be
		// known, so the request counts as failed and is retried.
		return Accepted{}, fmt.Errorf("ups: %s: accepted answer without a jobId (message %q)", c.enrichRoute, out.Message)
	}
	return out, nil
}

// JobState is where a job is in its life.
type JobState uint8

const (
	// JobRunning: no word that ends the job (StatusWords), or none.
	JobRunning JobState = iota
	// JobCompleted: a completed word; the records were applied.
	JobCompleted
	// JobFailed: a failed word; the records are sent again.
	JobFailed
	// JobUnverified: still not ended at the job timeout; the records are
	// committed without knowing whether they were applied, and never sent
	// again.
	JobUnverified
)

// String is the state's word on the results topic and in metrics.
func (s JobState) String() string {
	switch s {
	case JobCompleted:
		return "COMPLETED"
	case JobFailed:
		return "FAILED"
	case JobUnverified:
		return "UNVERIFIED"
	}
	return "RUNNING"
}

// JobStatus is what the status service says of a job.
type JobStatus struct {
	State JobState
	// Status is the service's own word for it (job-status).
	Status string
	// Errors are the messages of the job's ERROR events, newest first, at
	// most maxJobErrors of them; read only for a FAILED job.
	Errors []string
}

// maxJobErrors bounds the messages kept of one job (results and dead
// letters carry them; a job of 1000 bad writes must not make them huge).
const maxJobErrors = 10

// statusAnswer is the part of the status service's answer the connector reads.
type statusAnswer struct {
	Pagination *struct {
		NextPageToken string `json:"nextPageToken"`
	} `json:"pagination"`
	Summary struct {
		JobStatus string `json:"job-status"`
		Job       struct {
			Status string `json:"status"`
		} `json:"job"`
	} `json:"summary"`
	Result []struct {
		Message string `json:"message"`
		Level   string `json:"level"`
	} `json:"result"`
}

// jobState reads a status word as the configured lists say (StatusWords):
// anything in neither list is a job not ended.
func (c *Client) jobState(status string) JobState {
	switch w := statuswords.Fold(status); {
	case c.failed[w]:
		return JobFailed
	case c.completed[w]:
		return JobCompleted
	}
	return JobRunning
}

// JobStatus reads the status of job id. For a FAILED job it reads the pages
// of events (up to a few) to collect the error messages.
func (c *Client) JobStatus(ctx context.Context, id string) (JobStatus, error) {
	var st JobStatus
	pageToken := ""
	for page := 0; page < 5; page++ {
		q := url.Values{"rows": {strconv.Itoa(statusPageRows)}}
		if pageToken != "" {
			q.Set("pageToken", pageToken)
		}
		u := c.base + strings.NewReplacer("{apiKey}", url.PathEscape(c.apiKey), "{jobId}", url.PathEscape(id)).Replace(c.paths.Status) + "?" + q.Encode()
		var ans statusAnswer
		err := c.withToken(ctx, c.statusToken, func(auth string) error {
			_, err := c.http.JSON(ctx, http.MethodGet, u, c.statusRoute, http.Header{"Authorization": {auth}}, nil, &ans)
			return err
		})
		if err != nil {
			return JobStatus{}, err
		}
		if page == 0 {
			st.Status = ans.Summary.JobStatus
			if st.Status == "" {
				st.Status = ans.Summary.Job.Status
			}
			st.State = c.jobState(st.Status)
			if st.State != JobFailed {
				return st, nil
			}
		}
		for _, r := range ans.Result {
			if strings.EqualFold(r.Level, "ERROR") && r.Message != "" && len(st.Errors) < maxJobErrors {
				st.Errors = append(st.Errors, r.Message)
			}
		}
		if ans.Pagination == nil || ans.Pagination.NextPageToken == "" || len(st.Errors) >= maxJobErrors {
			break
		}
		pageToken = ans.Pagination.NextPageToken
	}
	return st, nil
}

// withToken runs call with the service's bearer token; on a 401 it fetches
// a new token once and runs call again, so an expired or revoked token costs
// one retry instead of a pause of the pipeline.
func (c *Client) withToken(ctx context.Context, ts *TokenSource, call func(auth string) error) error {
	tok, err := ts.Token(ctx)
	if err != nil {
		return err
	}
	err = call("Bearer " + tok)
	var se *httpapi.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusUnauthorized {
		return err
	}
	ts.Invalidate(tok)
	if tok, err = ts.Token(ctx); err != nil {
		return err
	}
	return call("Bearer " + tok)
}
