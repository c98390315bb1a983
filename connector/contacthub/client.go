package contacthub

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/schemas"
)

// Client talks to one Contacthub workspace. Every request is paced by one
// limiter, because Contacthub throttles the workspace, not the endpoint.
type Client struct {
	http    *httpapi.Client
	cfg     Options
	auth    http.Header
	paths   Paths
	limiter *rate.Limiter

	refreshMu      sync.Mutex // held while reading the throttling
	mu             sync.Mutex
	rpm            int // the workspace's maxRequestsPerMinute as last read; -1 unknown
	throttleReadAt time.Time
	// share is this process's part of the workspace's limit, which every
	// replica of the connector spends (see SetShare); 1 alone.
	share float64
}

// NewClient builds a client; it sends nothing until used.
func NewClient(cfg Options, m *httpapi.Metrics) *Client {
	c := &Client{
		http:    httpapi.New(httpapi.Config{API: "contacthub", Timeout: cfg.Timeout, Metrics: m}),
		cfg:     cfg,
		auth:    http.Header{"Authorization": {"Bearer " + cfg.Token}},
		paths:   cfg.Paths,
		limiter: rate.NewLimiter(rate.Inf, 1),
		rpm:     -1,
		share:   1,
	}
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
// unthrottled, -1: not known yet).
func (c *Client) Pace() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rpm
}

// RefreshThrottling reads the workspace throttling and paces below it, unless
// the configuration fixes the pace.
func (c *Client) RefreshThrottling(ctx context.Context) error {
	if c.cfg.MaxRequestsPerMinute > 0 {
		return nil
	}
	var out struct {
		MaxRequestsPerMinute int `json:"maxRequestsPerMinute"`
	}
	if err := c.limiter.Wait(ctx); err != nil {
		return err
	}
	if _, err := c.http.JSON(ctx, http.MethodGet, c.url(c.paths.Throttling, nil), "GET "+c.paths.Throttling, c.auth, nil, &out); err != nil {
		return err
	}
	c.setPace(out.MaxRequestsPerMinute)
	return nil
}

// EnsurePace reads the workspace throttling when it is due: before the first
// request (every caller waits for that first read, so no burst goes out
// unpaced), then every `every` by one caller while the others carry on, and
// 5 s after a failed read. A failed read leaves the pace as it was.
func (c *Client) EnsurePace(ctx context.Context, every time.Duration) error {
	if c.cfg.MaxRequestsPerMinute > 0 {
		return nil
	}
	known, due := c.paceDue(every)
	if !due {
		return nil
	}
	if known {
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
	// Marked after the read, not before: callers arriving meanwhile must
	// wait for it (first read) rather than take it as done.
	c.mu.Lock()
	c.throttleReadAt = time.Now()
	c.mu.Unlock()
	return err
}

func (c *Client) paceDue(every time.Duration) (known, due bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	wait := every
	if c.rpm < 0 {
		wait = 5 * time.Second
	}
	return c.rpm >= 0, c.throttleReadAt.IsZero() || time.Since(c.throttleReadAt) >= wait
}

// CreateEvent posts a validated event body as is and returns the new event id.
func (c *Client) CreateEvent(ctx context.Context, body []byte) (string, error) {
	if err := c.limiter.Wait(ctx); err != nil {
		return "", err
	}
	var out struct {
		ID string `json:"id"`
	}
	if _, err := c.http.JSON(ctx, http.MethodPost, c.url(c.paths.Events, nil), "POST "+c.paths.Events, c.auth, body, &out); err != nil {
		return "", err
	}
	return out.ID, nil
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

// Updates reads one page of the update stream.
func (c *Client) Updates(ctx context.Context, q UpdatesQuery) (*schemas.StreamPage, error) {
	page, _, err := c.updates(ctx, q, nil)
	return page, err
}

// updates reads one page into buf (grown when too small) and returns the
// page with the buffer, which the page's updates alias: the caller may pass
// it again once done with the page.
func (c *Client) updates(ctx context.Context, q UpdatesQuery, buf []byte) (*schemas.StreamPage, []byte, error) {
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
	if err := c.limiter.Wait(ctx); err != nil {
		return nil, buf, err
	}
	route := "GET " + c.paths.Updates
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(c.paths.Updates, v), nil)
	if err != nil {
		return nil, buf, fmt.Errorf("contacthub: %s: build request: %w", route, err)
	}
	req.Header = c.auth.Clone()
	req.Header.Set("Accept", "application/json")
	_, body, err := c.http.DoInto(req, route, buf)
	if err != nil {
		return nil, buf, err
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
	if _, err := c.http.JSON(ctx, http.MethodGet, c.url(c.paths.LastOffset, v), "GET "+c.paths.LastOffset, c.auth, nil, &out); err != nil {
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
