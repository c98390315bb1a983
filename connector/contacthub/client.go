package contacthub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/connector/internal/credprobe"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams/delivery"
)

// Client talks to one Contacthub workspace. Every request is paced by one
// limiter, because Contacthub throttles the workspace, not the endpoint.
type Client struct {
	http *httpapi.Client
	cfg  Options
	// eventsURL and eventsRoute are Create event's, built once: it is
	// called once per event.
	eventsURL, eventsRoute string
	// headers are the requests' headers, without and with a JSON body
	// (header): built once and shared read-only by every request.
	headers [2]http.Header
	paths   Paths
	limiter *rate.Limiter
	log     *slog.Logger

	refreshMu sync.Mutex // held while reading the throttling
	mu        sync.Mutex
	rpm       int // the pace kept, in requests per minute; 0 unpaced; -1 not known yet
	// throttleReadAt is when the throttling was last read, or tried;
	// throttleOK says whether that read succeeded.
	throttleReadAt time.Time
	throttleOK     bool
	// throttleRefused: the last read was refused (401/403).
	throttleRefused bool
	// throttleFailures counts failed reads by reason (unauthorized, error).
	throttleFailures map[string]int64
	// probe tells a 403 about one record from a refused credential.
	probe *credprobe.Prober
	// share is this process's part of the workspace's limit, which every
	// replica of the connector spends (see SetShare); 1 alone.
	share float64
}

// NewClient builds a client; it sends nothing until used.
func NewClient(cfg Options, m *httpapi.Metrics) *Client {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ThrottlingRefresh <= 0 {
		cfg.ThrottlingRefresh = DefaultThrottlingRefresh
	}
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = DefaultMaxEventBytes
	}
	c := &Client{
		http:             httpapi.New(httpapi.Config{API: "contacthub", Timeout: cfg.Timeout, Metrics: m}),
		cfg:              cfg,
		paths:            cfg.Paths,
		limiter:          rate.NewLimiter(rate.Inf, 1),
		log:              cfg.Logger,
		rpm:              -1,
		throttleFailures: map[string]int64{},
		share:            1,
		headers:          requestHeaders("Bearer " + cfg.Token),
		eventsRoute:      "POST " + cfg.Paths.Events,
	}
	c.eventsURL = c.url(c.paths.Events, nil)
	c.probe = c.newCredentialProbe()
	if cfg.MaxRequestsPerMinute > 0 {
		c.setPace(cfg.MaxRequestsPerMinute)
	}
	return c
}

func (c *Client) url(path string, q url.Values) string {
	u := strings.TrimRight(c.cfg.BaseURL, "/") + strings.ReplaceAll(path, "{workspaceId}", url.PathEscape(c.cfg.WorkspaceID))
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// setPace paces requests at Headroom of rpm (0 = unthrottled), times the
// process's share of it.
func (c *Client) setPace(rpm int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rpm = rpm
	c.applyPace()
}

// applyPace sets the limiter from rpm and share; c.mu is held.
func (c *Client) applyPace() {
	if c.rpm <= 0 {
		c.limiter.SetLimit(rate.Inf)
		return
	}
	// Burst 1 spreads requests evenly, so the workspace's own bucket never
	// sees a burst above its rate.
	c.limiter.SetLimit(rate.Limit(float64(c.rpm) / 60 * c.cfg.Headroom * c.share))
	c.limiter.SetBurst(1)
}

// Pace returns the requests per minute the client currently keeps below (0:
// unthrottled, -1: not known yet, which paces nothing).
func (c *Client) Pace() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rpm
}

// PaceKnown reports whether the pace follows the workspace's throttling as
// last read, or the configured max_requests_per_minute. It is false while
// the throttling cannot be read: the client then keeps the last value it
// read, or, with none, paces nothing and leaves 429 answers to the
// runtime's back-off.
func (c *Client) PaceKnown() bool {
	if c.cfg.MaxRequestsPerMinute > 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.throttleOK
}

// ThrottlingReadFailures counts the failed reads of the workspace
// throttling by reason: "unauthorized" (the token may not read it, 401 or
// 403) or "error" (any other failure).
func (c *Client) ThrottlingReadFailures() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.throttleFailures)
}

// RefreshThrottling reads the workspace throttling and paces below it, unless
// the configuration fixes the pace.
func (c *Client) RefreshThrottling(ctx context.Context) error {
	if c.cfg.MaxRequestsPerMinute > 0 {
		return nil
	}
	rpm, err := c.readThrottling(ctx)
	if err != nil {
		return err
	}
	c.setPace(rpm)
	return nil
}

func (c *Client) readThrottling(ctx context.Context) (int, error) {
	var out struct {
		MaxRequestsPerMinute int `json:"maxRequestsPerMinute"`
	}
	if err := c.limiter.Wait(ctx); err != nil {
		return 0, err
	}
	if err := c.call(ctx, http.MethodGet, c.url(c.paths.Throttling, nil), "GET "+c.paths.Throttling, nil, &out); err != nil {
		return 0, err
	}
	return out.MaxRequestsPerMinute, nil
}

// EnsurePace reads the workspace throttling when it is due: before the first
// request (every caller waits for that first try, so no burst goes out
// unpaced when it can be read), then every `every` by one caller while the
// others carry on. A failed read never fails a caller: the pace stays as it
// was (the last value read, or none), a warning and the client's metrics
// say so, and the read is tried again 5 s later, or after `every` when the
// token may not read the throttling (401/403 there says nothing of the
// calls the token makes). Only ctx's end is returned.
func (c *Client) EnsurePace(ctx context.Context, every time.Duration) error {
	if c.cfg.MaxRequestsPerMinute > 0 {
		return nil
	}
	tried, due := c.paceDue(every)
	if !due {
		return nil
	}
	if tried {
		if !c.refreshMu.TryLock() {
			return nil
		}
	} else {
		c.refreshMu.Lock()
	}
	defer c.refreshMu.Unlock()
	if _, due := c.paceDue(every); !due {
		return nil // another caller just read it
	}
	err := c.RefreshThrottling(ctx)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	reason := ""
	switch {
	case errors.Is(err, delivery.ErrUnauthorized):
		reason = "unauthorized"
	case err != nil:
		reason = "error"
	}
	// Marked after the read, not before: callers arriving meanwhile must
	// wait for it (first read) rather than take it as done.
	c.mu.Lock()
	c.throttleReadAt, c.throttleOK, c.throttleRefused = time.Now(), err == nil, reason == "unauthorized"
	if err != nil {
		c.throttleFailures[reason]++
	}
	rpm := c.rpm
	c.mu.Unlock()
	if err != nil {
		pace := "unpaced: 429 answers are retried after their Retry-After"
		if rpm > 0 {
			pace = fmt.Sprintf("keeping the last pace read, %d requests per minute", rpm)
		}
		c.log.Warn("could not read the workspace throttling; "+pace+"; set contacthub.max_requests_per_minute to fix the pace",
			"reason", reason, "error", err)
	}
	return nil
}

// paceDue reports whether a read was tried yet and whether one is due.
func (c *Client) paceDue(every time.Duration) (tried, due bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.throttleReadAt.IsZero() {
		return false, true
	}
	wait := every
	if !c.throttleOK && !c.throttleRefused {
		wait = min(every, 5*time.Second)
	}
	return true, time.Since(c.throttleReadAt) >= wait
}

// CreateEvent posts an event body as is and returns the new event id.
func (c *Client) CreateEvent(ctx context.Context, body []byte) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	if err := c.postEvent(ctx, body, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// postEvent posts an event body as is; out, when not nil, receives the
// answer. The events sink passes nil: it needs only to know the event was
// created, and decoding the created event it does not use was 3% of its
// CPU per event.
func (c *Client) postEvent(ctx context.Context, body []byte, out any) error {
	if err := c.limiter.Wait(ctx); err != nil {
		return err
	}
	return c.call(ctx, http.MethodPost, c.eventsURL, c.eventsRoute, body, out)
}

// call makes one JSON call. An error answer keeps its classification
// (httpapi) and gains the API's logref, which Contacthub's support needs
// to find the request.
func (c *Client) call(ctx context.Context, method, u, route string, body []byte, out any) error {
	data, err := c.http.Send(ctx, method, u, route, c.header(body != nil), body)
	if err != nil {
		return withLogref(err, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("contacthub: %s: decode answer: %w", route, err)
		}
	}
	return nil
}

// requestHeaders are the two headers of every request, without and with
// a JSON body. Requests share them: net/http only reads a request's header
// (what it adds goes into a map of its own), and nothing here writes into
// one after it is built, so no request pays for a map of its own, once per
// event at thousands of events a second.
//
// A request with a body (an event, a customer) takes its short answer
// uncompressed (Accept-Encoding: identity), which also spares net/http
// adding "gzip" in a header map of its own per request; reads (the update
// stream's pages of megabytes) let net/http ask for gzip and decompress.
func requestHeaders(auth string) [2]http.Header {
	json := []string{"application/json"}
	return [2]http.Header{
		{"Authorization": {auth}, "Accept": json},
		{"Authorization": {auth}, "Accept": json, "Content-Type": json, "Accept-Encoding": {"identity"}},
	}
}

// header is a request's header (requestHeaders): read-only.
func (c *Client) header(hasBody bool) http.Header {
	if hasBody {
		return c.headers[1]
	}
	return c.headers[0]
}

// withLogref adds the logref of an error answer's body to err.
func withLogref(err error, body []byte) error {
	var eb struct {
		Logref string `json:"logref"`
	}
	if len(body) == 0 || json.Unmarshal(body, &eb) != nil || eb.Logref == "" {
		return err
	}
	return fmt.Errorf("%w (logref %s)", err, eb.Logref)
}

// UpdatesQuery selects a page of the update stream.
type UpdatesQuery struct {
	// Offset is the greatest offset already known (exclusive); <0 to omit.
	Offset int64
	// Timestamp (epoch millis) starts from a time when Offset is omitted.
	Timestamp int64
	Size      int
	NodeID    string
	Entity    string
}

// Updates reads one page of the update stream, of at most
// httpapi.DefaultMaxBody bytes (a longer one fails with a
// *httpapi.BodyTooLargeError).
func (c *Client) Updates(ctx context.Context, q UpdatesQuery) (*schemas.StreamPage, error) {
	page, _, err := c.updates(ctx, q, nil, 0)
	return page, err
}

func (q UpdatesQuery) values() url.Values {
	v := url.Values{}
	if q.Offset >= 0 {
		v.Set("offset", strconv.FormatInt(q.Offset, 10))
	} else if q.Timestamp > 0 {
		v.Set("timestamp", strconv.FormatInt(q.Timestamp, 10))
	}
	if q.Size > 0 {
		v.Set("size", strconv.Itoa(q.Size))
	}
	if q.NodeID != "" {
		v.Set("nodeId", q.NodeID)
	}
	if q.Entity != "" {
		v.Set("entity", q.Entity)
	}
	return v
}

// updates reads one page of at most limit bytes (0: httpapi.DefaultMaxBody)
// into buf (grown when too small) and returns the page with the buffer,
// which the page's updates alias: the caller may pass it again once done
// with the page. A longer page fails with a *httpapi.BodyTooLargeError.
func (c *Client) updates(ctx context.Context, q UpdatesQuery, buf []byte, limit int64) (*schemas.StreamPage, []byte, error) {
	if err := c.limiter.Wait(ctx); err != nil {
		return nil, buf, err
	}
	route := "GET " + c.paths.Updates
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(c.paths.Updates, q.values()), nil)
	if err != nil {
		return nil, buf, fmt.Errorf("contacthub: %s: build request: %w", route, err)
	}
	req.Header = c.header(false)
	_, body, err := c.http.DoLimited(req, route, buf, limit)
	if err != nil {
		return nil, buf, withLogref(err, body)
	}
	// Pages are decoded by schemas.DecodeStreamPage, not encoding/json:
	// reading them is the source's hot path.
	page, err := schemas.DecodeStreamPage(body)
	if err != nil {
		return nil, body, fmt.Errorf("contacthub: %s: decode answer: %w", route, err)
	}
	return page, body, nil
}

// LastOffset reads the last update offset.
func (c *Client) LastOffset(ctx context.Context, nodeID, entity string) (int64, error) {
	v := url.Values{}
	if nodeID != "" {
		v.Set("nodeId", nodeID)
	}
	if entity != "" {
		v.Set("entity", entity)
	}
	if err := c.limiter.Wait(ctx); err != nil {
		return 0, err
	}
	var out struct {
		LastOffset int64 `json:"lastOffset"`
	}
	if err := c.call(ctx, http.MethodGet, c.url(c.paths.LastOffset, v), "GET "+c.paths.LastOffset, nil, &out); err != nil {
		return 0, err
	}
	return out.LastOffset, nil
}

// Workspace is the id of the workspace the client talks to.
func (c *Client) Workspace() string { return c.cfg.WorkspaceID }

// String never shows the token.
func (c *Client) String() string {
	return fmt.Sprintf("contacthub(%s, workspace %s)", c.cfg.BaseURL, c.cfg.WorkspaceID)
}
