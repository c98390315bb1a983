package enablenow

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/connector/internal/credprobe"
)

// A 403 means one of two things, and the runtime must not mix them up: the
// credential is refused (revoked: every call would fail the same, so pause
// and retry, never dead-letter), or this one request is (a subject the
// credential may not categorize, a job it may not see: it can never
// succeed, so dead-letter it, or stop following the job, and go on). The
// reference shows no error answer at all; package credprobe tells them
// apart by asking the credential something cheap it may do, before and
// after the request is asked once more (a creation carries its
// idempotency key, so asking again can never make a second job).
//
// The reference documents no read either; the cheapest the connector knows
// is the job status (job_status_path, as the monitor reads it), so that is
// the default probe (Options.ProbePath). A job the API told this client
// about is read first: its 200 shows the credential works. When there is
// none, or its read is refused (the job may be the refused record's),
// ProbeJobID is read: a 404 shows the API looked the job up, which it does
// only for a credential it accepts.

// credentialWorks is the probe: the reads above, in order
// (credprobe.Reads): works when one does, refused when each is refused
// (401/403), unknown otherwise.
func (c *Client) credentialWorks(ctx context.Context) (bool, error) {
	if !strings.Contains(c.probePath, "{id}") {
		return credprobe.Reads(func(ctx context.Context) error { return c.probeRead(ctx, "") })(ctx)
	}
	reads := make([]func(context.Context) error, 0, 2)
	if id := c.seenJob(); id != "" {
		reads = append(reads, func(ctx context.Context) error { return c.probeRead(ctx, id) })
	}
	reads = append(reads, func(ctx context.Context) error { return c.probeRead(ctx, ProbeJobID) })
	return credprobe.Reads(reads...)(ctx)
}

// probeRead GETs the probe path for the job id; nil when the answer shows
// the credential was accepted: a 2xx, or a 404 of a job looked up by id.
func (c *Client) probeRead(ctx context.Context, id string) error {
	route := "GET " + c.probePath
	u := c.base + strings.ReplaceAll(c.probePath, "{id}", url.PathEscape(id))
	_, _, err := c.send(ctx, http.MethodGet, u, route, c.header(), nil)
	var se *httpapi.StatusError
	switch {
	case err == nil:
		return nil
	case id != "" && errors.As(err, &se) && se.Status == http.StatusNotFound:
		return nil
	case credprobe.IsForbidden(err):
		c.forget(id)
	}
	return err
}

// saw remembers id as a job the API told this client about.
func (c *Client) saw(id string) {
	if id == "" {
		return
	}
	c.seenMu.Lock()
	c.seen = id
	c.seenMu.Unlock()
}

// forget drops id from the probe's reads, when it is there.
func (c *Client) forget(id string) {
	c.seenMu.Lock()
	if c.seen == id {
		c.seen = ""
	}
	c.seenMu.Unlock()
}

func (c *Client) seenJob() string {
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	return c.seen
}
