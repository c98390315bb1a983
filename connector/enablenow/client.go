package enablenow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/connector/internal/credprobe"
	"github.com/contactlab/connector/connector/internal/statuswords"
	"github.com/contactlab/connector/schemas"
)

// Header names of the API's idempotency contract: the key a creation is sent
// with, and the mark of an answer that repeats an earlier creation.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderReplayed       = "Idempotent-Replayed"
)

// Job is what the API says about a categorization job.
type Job struct {
	ID string
	// Status is as EnableNow reported it; empty when the answer had none.
	Status string
	// Terminal reports whether Status is one a job ends with
	// (config enablenow.terminal_statuses).
	Terminal bool
	// Outcome is OutcomeCompleted or OutcomeFailed for a terminal Status of
	// those lists, OutcomeCreated for a creation answer that names no job,
	// and empty otherwise.
	Outcome string
	// Replayed marks a creation answered from a remembered idempotency key:
	// the job was created by an earlier attempt.
	Replayed bool
}

// Client talks to the EnableNow categorization API. It is safe for
// concurrent use. Every error it returns comes from package httpapi or wraps
// one, so errors.Is(err, streams.ErrRejected / streams.ErrUnauthorized) says
// what the runtime should do; a 403 is told apart first (credential.go): one
// whose credential works for a cheap read is rejected, as the record's own.
type Client struct {
	http       *httpapi.Client
	base       string
	jobsPath   string
	statusPath string
	auth       http.Header
	// lower-cased status words
	terminal, completed, failed statuswords.Set

	probe     *credprobe.Prober
	probePath string
	// seen is the job the API last told this client about (a creation or
	// a read answered 2xx): the probe's first read.
	seenMu sync.Mutex
	seen   string
}

// NewClient builds a client; it sends nothing until used.
func NewClient(cfg Options, m *httpapi.Metrics) *Client {
	credential := cfg.Token
	if cfg.AuthScheme != "" {
		credential = cfg.AuthScheme + " " + credential
	}
	if cfg.ProbePath == "" {
		cfg.ProbePath = cfg.JobStatusPath
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Client{
		http:       httpapi.New(httpapi.Config{API: "enablenow", Timeout: cfg.Timeout, Metrics: m}),
		base:       strings.TrimRight(cfg.BaseURL, "/"),
		jobsPath:   cfg.JobsPath,
		statusPath: cfg.JobStatusPath,
		auth:       http.Header{http.CanonicalHeaderKey(cfg.AuthHeader): {credential}},
		terminal:   statuswords.New(cfg.TerminalStatuses),
		completed:  statuswords.New(cfg.CompletedStatuses),
		failed:     statuswords.New(cfg.FailedStatuses),
		probePath:  cfg.ProbePath,
	}
	c.probe = credprobe.New(cfg.Forbidden, c.credentialWorks, cfg.Logger)
	return c
}

// IsTerminal reports whether a job with this status has ended.
func (c *Client) IsTerminal(status string) bool {
	return c.terminal.Has(status)
}

// outcome says how a job with this status ended, "" when it did not or
// the lists do not say.
func (c *Client) outcome(status string) string {
	w := statuswords.Fold(status)
	switch {
	case !c.terminal[w]:
		return ""
	case c.failed[w]:
		return OutcomeFailed
	case c.completed[w]:
		return OutcomeCompleted
	}
	return ""
}

// judge fills what the configured words say of job.
func (c *Client) judge(job *Job) {
	job.Terminal = c.IsTerminal(job.Status)
	job.Outcome = c.outcome(job.Status)
}

// CreateJob creates a categorization job for req, sending idempotencyKey so
// that a retry of a creation that succeeded unseen gets the same job back.
// req must have been decoded by schemas.DecodeCategorizationRequest: it is
// sent as is, defaults spelled out (another engine's request as it came).
//
// Any 2xx answer is a creation, whatever its body: the job is then
// OutcomeCreated with no ID when the answer names none (the reference shows
// no answer), never an error, since an error would have the runtime send
// the request again. A 403 whose credential works for other calls (before
// the request is asked once more, and after it is refused again) is
// rejected: the request is refused, not the credential (Options.Forbidden).
func (c *Client) CreateJob(ctx context.Context, req *schemas.CategorizationRequest, idempotencyKey string) (Job, error) {
	route := "POST " + c.jobsPath
	body, err := json.Marshal(req)
	if err != nil {
		return Job{}, fmt.Errorf("enablenow: %s: encode request: %w", route, err)
	}
	h := c.header()
	if idempotencyKey != "" {
		h.Set(HeaderIdempotencyKey, idempotencyKey)
	}
	var resp *http.Response
	var data []byte
	err = c.probe.Call(ctx, func(ctx context.Context) (err error) {
		resp, data, err = c.send(ctx, http.MethodPost, c.base+c.jobsPath, route, h.Clone(), body)
		return err
	})
	if err != nil {
		return Job{}, err
	}
	job, err := decodeJobAnswer(data, resp.Header.Get("Location"))
	if err != nil {
		// Created all the same: what the answer says cannot be read.
		job = Job{}
	}
	c.judge(&job)
	if job.ID == "" {
		job.Outcome = OutcomeCreated
	}
	job.Replayed = strings.EqualFold(resp.Header.Get(HeaderReplayed), "true")
	c.saw(job.ID)
	return job, nil
}

// Job reads the job's status (GET {base}/v2/categorization-jobs/{id} by
// default, config enablenow.job_status_path). A 403 whose credential works
// for other calls is rejected: this job is hidden from the credential.
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	route := "GET " + c.statusPath
	u := c.base + strings.ReplaceAll(c.statusPath, "{id}", url.PathEscape(id))
	var data []byte
	err := c.probe.Call(ctx, func(ctx context.Context) (err error) {
		_, data, err = c.send(ctx, http.MethodGet, u, route, c.header(), nil)
		if credprobe.IsForbidden(err) {
			// Not the probe's to read: its 403 would prove nothing.
			c.forget(id)
		}
		return err
	})
	if err != nil {
		return Job{}, err
	}
	c.saw(id)
	job, err := decodeJobAnswer(data, "")
	if err != nil {
		return Job{}, fmt.Errorf("enablenow: %s: job %s: %w", route, id, err)
	}
	if job.ID == "" {
		// Some APIs leave the id out of a resource read by id.
		job.ID = id
	}
	c.judge(&job)
	return job, nil
}

// send goes through httpapi.Client.Do, not JSON, because the creation
// answer's headers (Location, Idempotent-Replayed) matter as much as its body.
func (c *Client) send(ctx context.Context, method, u, route string, h http.Header, body []byte) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		// A *bytes.Reader lets net/http rewind the body, which it needs to
		// resend a request carrying an Idempotency-Key on a fresh connection.
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("enablenow: %s: build request: %w", route, err)
	}
	req.Header = h
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	return c.http.Do(req, route)
}

func (c *Client) header() http.Header { return c.auth.Clone() }

// String never shows the credential.
func (c *Client) String() string { return "enablenow(" + c.base + ")" }

// decodeJobAnswer reads a job resource; the id is empty when the answer
// names none. The reference does not show the answer, so it accepts "id" or
// "jobId", and falls back on the last segment of the Location header.
func decodeJobAnswer(body []byte, location string) (Job, error) {
	var a struct {
		ID     string `json:"id"`
		JobID  string `json:"jobId"`
		Status string `json:"status"`
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &a); err != nil {
			return Job{}, fmt.Errorf("decode job: %w", err)
		}
	}
	id := a.ID
	if id == "" {
		id = a.JobID
	}
	if id == "" && location != "" {
		if u, err := url.Parse(location); err == nil {
			if seg := path.Base(u.Path); seg != "." && seg != "/" {
				if unescaped, err := url.PathUnescape(seg); err == nil {
					id = unescaped
				}
			}
		}
	}
	return Job{ID: id, Status: a.Status}, nil
}
