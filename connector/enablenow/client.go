package enablenow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/contactlab/connector/connector/httpapi"
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
	// Replayed marks a creation answered from a remembered idempotency key:
	// the job was created by an earlier attempt.
	Replayed bool
}

// Client talks to the EnableNow categorization API. It is safe for
// concurrent use. Every error it returns comes from package httpapi or wraps
// one, so errors.Is(err, streams.ErrRejected / streams.ErrUnauthorized) says
// what the runtime should do.
type Client struct {
	http       *httpapi.Client
	base       string
	jobsPath   string
	statusPath string
	auth       http.Header
	terminal   map[string]bool // lower-cased
}

// NewClient builds a client; it sends nothing until used.
func NewClient(cfg Options, m *httpapi.Metrics) *Client {
	credential := cfg.Token
	if cfg.AuthScheme != "" {
		credential = cfg.AuthScheme + " " + credential
	}
	terminal := make(map[string]bool, len(cfg.TerminalStatuses))
	for _, s := range cfg.TerminalStatuses {
		terminal[strings.ToLower(s)] = true
	}
	return &Client{
		http:       httpapi.New(httpapi.Config{API: "enablenow", Timeout: cfg.Timeout, Metrics: m}),
		base:       strings.TrimRight(cfg.BaseURL, "/"),
		jobsPath:   cfg.JobsPath,
		statusPath: cfg.JobStatusPath,
		auth:       http.Header{http.CanonicalHeaderKey(cfg.AuthHeader): {credential}},
		terminal:   terminal,
	}
}

// IsTerminal reports whether a job with this status has ended.
func (c *Client) IsTerminal(status string) bool {
	return c.terminal[strings.ToLower(status)]
}

// CreateJob creates a categorization job for req, sending idempotencyKey so
// that a retry of a creation that succeeded unseen gets the same job back.
// req must have been decoded by schemas.DecodeCategorizationRequest: it is
// sent as is, defaults spelled out.
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
	resp, data, err := c.send(ctx, http.MethodPost, c.base+c.jobsPath, route, h, body)
	if err != nil {
		return Job{}, err
	}
	job, err := decodeJobAnswer(data, resp.Header.Get("Location"))
	if err == nil && job.ID == "" {
		err = errNoJobID
	}
	if err != nil {
		return Job{}, fmt.Errorf("enablenow: %s: %w", route, err)
	}
	job.Terminal = c.IsTerminal(job.Status)
	job.Replayed = strings.EqualFold(resp.Header.Get(HeaderReplayed), "true")
	return job, nil
}

// Job reads the job's status (GET {base}/v2/categorization-jobs/{id} by
// default, config enablenow.job_status_path).
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	route := "GET " + c.statusPath
	u := c.base + strings.ReplaceAll(c.statusPath, "{id}", url.PathEscape(id))
	_, data, err := c.send(ctx, http.MethodGet, u, route, c.header(), nil)
	if err != nil {
		return Job{}, err
	}
	job, err := decodeJobAnswer(data, "")
	if err != nil {
		return Job{}, fmt.Errorf("enablenow: %s: job %s: %w", route, id, err)
	}
	if job.ID == "" {
		// Some APIs leave the id out of a resource read by id.
		job.ID = id
	}
	job.Terminal = c.IsTerminal(job.Status)
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

// errNoJobID is returned for a 2xx creation answer that names no job:
// nothing can be published or followed. It is retryable, since a replay may
// answer better; the retry budget dead-letters the record if it never does.
var errNoJobID = errors.New("answer names no job (no id in the body, no Location)")

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
