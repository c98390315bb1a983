package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/contactlab/connector/streams/delivery"
)

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// Config configures a Client.
type Config struct {
	// API names the service in errors and metrics ("contacthub", "ups", ...).
	API string
	// Timeout bounds one request, answer included.
	Timeout time.Duration
	// MaxConns bounds the connections to the host (and the idle pool);
	// 0 is defaultMaxConns.
	MaxConns int
	Metrics  *Metrics
}

// defaultMaxConns is the bound on connections to one API: twice the
// largest adaptive concurrency of a sink type (contacthub-events: 512;
// the sinks of one API share its client), so that the limiter, not the
// pool, sets how many requests are in flight. At 256 the requests over it
// queued for a connection, and the limiter read the wait as the API
// slowing down. Only connections in use are opened.
const defaultMaxConns = 1024

// connBufferSize is the size of a connection's read and write buffers.
const connBufferSize = 2 << 10

// Client sends requests to one API.
type Client struct {
	api string
	hc  *http.Client
	// rt is hc's transport: Do sends through it directly, without
	// http.Client's redirect and cookie machinery, which cost a copy of
	// every request's header and a timer of its own on each call (a tenth
	// of the events path's garbage); timeout bounds a call instead.
	rt      http.RoundTripper
	fast    *fastTransport // Send's; nil when a proxy is set
	timeout time.Duration
	m       *Metrics
}

// New builds a Client with its own connection pool.
func New(cfg Config) *Client {
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          cfg.MaxConns,
		MaxIdleConnsPerHost:   cfg.MaxConns,
		MaxConnsPerHost:       cfg.MaxConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		// Each connection holds a read and a write buffer for its life,
		// and a sink keeps hundreds of connections open: 2 KB instead of
		// net/http's 4 KB each still takes a request of one event, or an
		// answer, in one piece (a larger body bypasses the buffer), and
		// spares about 4 KB of heap per connection (make profile's heap).
		ReadBufferSize:  connBufferSize,
		WriteBufferSize: connBufferSize,
	}
	return &Client{api: cfg.API, hc: &http.Client{Transport: tr, Timeout: cfg.Timeout}, rt: tr, fast: newFastTransport(cfg), timeout: cfg.Timeout, m: cfg.Metrics}
}

// HTTPClient is the underlying client, for libraries that take one (oauth2).
func (c *Client) HTTPClient() *http.Client { return c.hc }

// API is the name of the API this client talks to.
func (c *Client) API() string { return c.api }

// Do sends req and reads the answer. route is the request's path template
// ("POST /workspaces/{id}/events") used in errors and never containing
// secrets. A 2xx answer returns its body; anything else returns a
// *StatusError, a network error wrapped with the route, or ctx's error.
func (c *Client) Do(req *http.Request, route string) (*http.Response, []byte, error) {
	return c.DoInto(req, route, nil)
}

// DoInto is Do reading a 2xx answer's body into buf, grown when too small,
// so that a caller reading large answers one after the other (the update
// stream's pages) reuses one buffer instead of leaving megabytes a second to
// the collector. The body returned aliases buf when it fitted.
func (c *Client) DoInto(req *http.Request, route string, buf []byte) (*http.Response, []byte, error) {
	return c.DoLimited(req, route, buf, 0)
}

// DefaultMaxBody bounds a 2xx answer's body when the caller names no limit.
const DefaultMaxBody = 32 << 20

// DoLimited is DoInto with a bound on a 2xx answer's body (limit <= 0:
// DefaultMaxBody). A longer body is never cut short: the call fails with a
// *BodyTooLargeError instead, which the caller can act on (ask for less).
// Redirects are not followed: an API answering one gets a *StatusError.
func (c *Client) DoLimited(req *http.Request, route string, buf []byte, limit int64) (*http.Response, []byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	// The timeout covers the answer's body too, read before the return.
	ctx, cancel := context.WithTimeout(req.Context(), c.timeout)
	defer cancel()
	start := time.Now()
	resp, err := c.rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		c.m.observe(c.api, "error", time.Since(start))
		return nil, nil, c.failed(req, ctx, route, err)
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if !ok {
		// An error answer is read for its explanation only: its start is
		// enough.
		limit, buf = maxErrorBody, nil
	} else if resp.ContentLength > limit {
		c.m.observe(c.api, statusClass(resp.StatusCode), time.Since(start))
		return resp, nil, &BodyTooLargeError{API: c.api, Route: route, Limit: limit, Length: resp.ContentLength}
	}
	body, rerr := readBody(resp, limit, buf)
	c.m.observe(c.api, statusClass(resp.StatusCode), time.Since(start))
	if rerr != nil {
		return nil, nil, c.failed(req, ctx, route, rerr)
	}
	if ok && int64(len(body)) > limit {
		return resp, nil, &BodyTooLargeError{API: c.api, Route: route, Limit: limit, Length: -1}
	}
	if !ok {
		return resp, body, newStatusError(c.api, route, resp, body)
	}
	return resp, body, nil
}

// readBody reads at most limit+1 bytes of the answer into buf, in one
// allocation at most when its length is known: pages of the update stream
// are megabytes, and growing a buffer for them cost as much as decoding them.
// A body longer than limit comes back longer than limit, so that the caller
// can tell it from one that fitted.
func readBody(resp *http.Response, limit int64, buf []byte) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n <= limit {
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		_, err := io.ReadFull(resp.Body, buf)
		return buf, err
	}
	// The length is not known: append as io.ReadAll does, into buf.
	r := io.LimitReader(resp.Body, limit+1)
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// JSON sends a request with a JSON body (nil for none) and decodes a 2xx
// answer into out (nil to ignore it).
func (c *Client) JSON(ctx context.Context, method, url, route string, header http.Header, body []byte, out any) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bodyReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: build request: %w", c.api, route, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, data, err := c.Do(req, route)
	if err != nil {
		return resp, err
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp, fmt.Errorf("%s: %s: decode answer: %w", c.api, route, err)
		}
	}
	return resp, nil
}

// NetError is a transport failure (connection refused or reset, timeout): always retryable.
type NetError struct {
	API, Route string
	Err        error
}

func (e *NetError) Error() string { return fmt.Sprintf("%s: %s: %v", e.API, e.Route, e.Err) }
func (e *NetError) Unwrap() error { return e.Err }

// failed is the error of a call of req that got no whole answer: the
// caller's context's error when it ended, else a *NetError, saying timeout
// when the call's own timeout (ctx) ended it, which must not pass for the
// caller's context ending.
func (c *Client) failed(req *http.Request, ctx context.Context, route string, err error) error {
	if ctxErr := req.Context().Err(); ctxErr != nil {
		return fmt.Errorf("%s: %s: %w", c.api, route, ctxErr)
	}
	if ctx.Err() != nil {
		return &NetError{API: c.api, Route: route, Err: fmt.Errorf("timeout: no answer within %s", c.timeout)}
	}
	return &NetError{API: c.api, Route: route, Err: stripURL(err)}
}

// stripURL drops the URL from *url.Error: it may carry query-string secrets.
func stripURL(err error) error {
	var ue interface {
		Unwrap() error
		Timeout() bool
	}
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			if ue.Timeout() {
				return fmt.Errorf("timeout: %w", inner)
			}
			return inner
		}
	}
	return err
}

// BodyTooLargeError is a 2xx answer whose body is longer than the caller's
// limit. It is neither rejected nor unauthorized: unhandled, it is retried
// like a network error; a caller that can ask for less (a smaller page)
// does so on errors.As.
type BodyTooLargeError struct {
	API, Route string
	Limit      int64
	// Length is the announced Content-Length, or -1 when the answer gave
	// none and the body was found longer while read.
	Length int64
}

func (e *BodyTooLargeError) Error() string {
	if e.Length >= 0 {
		return fmt.Sprintf("%s: %s: answer of %d bytes is over the limit of %d", e.API, e.Route, e.Length, e.Limit)
	}
	return fmt.Sprintf("%s: %s: answer is over the limit of %d bytes", e.API, e.Route, e.Limit)
}

// StatusError is a non-2xx answer.
type StatusError struct {
	API    string
	Route  string
	Status int
	// Message is the API's own explanation, from its error body.
	Message string
	// Details are per-field errors ("path: message") when the API lists them.
	Details []string
	// Retry is the answer's Retry-After, when it had one.
	Retry time.Duration
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: HTTP %d", e.API, e.Route, e.Status)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if len(e.Details) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(e.Details, "; "))
		b.WriteString(")")
	}
	return b.String()
}

// HTTPStatus is the answer's status; dead-letter headers record it.
func (e *StatusError) HTTPStatus() int { return e.Status }

// RetryDelay is the answer's Retry-After (0 when absent).
func (e *StatusError) RetryDelay() time.Duration { return e.Retry }

// Is maps the status to what the runtime does: this is the one place that
// decides retryability for every API.
func (e *StatusError) Is(target error) bool {
	switch target {
	case delivery.ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case delivery.ErrRejected:
		return Permanent(e.Status)
	}
	return false
}

// DeadLetterReason is the reason class recorded when the record is dead-lettered.
func (e *StatusError) DeadLetterReason() string {
	if e.Status == http.StatusRequestEntityTooLarge {
		return "too_large"
	}
	return "rejected"
}

// Permanent reports whether retrying a request answered with status cannot
// help: any 4xx but 401/403 (credentials, fixed by pausing), 408 and 429.
func Permanent(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return status >= 400 && status < 500
}

func newStatusError(api, route string, resp *http.Response, body []byte) *StatusError {
	return newStatusErrorOf(api, route, resp.StatusCode, resp.Header.Get("Retry-After"), body)
}

// newStatusErrorOf is the *StatusError of an answer's status, Retry-After
// value and body.
func newStatusErrorOf(api, route string, status int, retryAfter string, body []byte) *StatusError {
	e := &StatusError{API: api, Route: route, Status: status, Retry: ParseRetryAfter(retryAfter, time.Now())}
	var eb struct {
		Message          string `json:"message"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		Errors           []struct {
			Message string `json:"message"`
			Path    string `json:"path"`
			Index   *int   `json:"index"`
			UserID  string `json:"userId"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &eb) == nil {
		e.Message = eb.Message
		if e.Message == "" {
			e.Message = strings.TrimSpace(eb.Error + " " + eb.ErrorDescription)
		}
		for _, d := range eb.Errors {
			switch {
			case d.Path != "":
				e.Details = append(e.Details, d.Path+": "+d.Message)
			case d.Index != nil:
				e.Details = append(e.Details, "data["+strconv.Itoa(*d.Index)+"]: "+d.Message)
			default:
				e.Details = append(e.Details, d.Message)
			}
		}
	} else if len(body) > 0 {
		msg := string(body)
		if len(msg) > 512 {
			msg = msg[:512] + "…"
		}
		e.Message = strings.TrimSpace(msg)
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// ParseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// Metrics are the HTTP collectors shared by every API client.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the HTTP collectors with reg (nil: not exported).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "connector", Subsystem: "http",
			Name: "requests_total", Help: "API requests by API and status class (2xx, 4xx, 5xx, error for no answer)."}, []string{"api", "status_class"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "connector", Subsystem: "http",
			Name: "request_duration_seconds", Help: "API request latency, answer read included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"api"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency)
	}
	return m
}

func (m *Metrics) observe(api, class string, d time.Duration) {
	m.requests.WithLabelValues(api, class).Inc()
	m.latency.WithLabelValues(api).Observe(d.Seconds())
}

func statusClass(code int) string {
	switch {
	case code >= 500:
		return "5xx"
	case code >= 400:
		return "4xx"
	case code >= 300:
		return "3xx"
	default:
		return "2xx"
	}
}

// bodyReader is body as a request body: nil for none.
func bodyReader(body []byte) io.Reader {
	if body == nil {
		return nil
	}
	return bytes.NewReader(body)
}
