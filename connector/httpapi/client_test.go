package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/streams"
)

// Do (net/http, through JSON) and Send (fasthttp) classify answers alike.
func TestStatusClassification(t *testing.T) {
	const answer = `{"message":"nope","errors":[{"message":"must be a uuid","path":"$.customerId"}]}`
	// Send also returns an error answer's body (JSON, through Do, does not).
	vias := map[string]func(c *httpapi.Client, url string) (body []byte, err error){
		"Do": func(c *httpapi.Client, url string) ([]byte, error) {
			_, err := c.JSON(context.Background(), "POST", url, "POST /x", nil, []byte(`{}`), nil)
			return nil, err
		},
		"Send": func(c *httpapi.Client, url string) ([]byte, error) {
			return c.Send(context.Background(), "POST", url, "POST /x", nil, []byte(`{}`))
		},
	}
	for _, tc := range []struct {
		status             int
		rejected, unauthed bool
	}{
		{400, true, false}, // bad request: the record itself is wrong
		{404, true, false},
		{413, true, false},
		{422, true, false},
		{401, false, true}, // credential: pause, never dead-letter
		{403, false, true},
		{408, false, false}, // request timeout: retry
		{429, false, false}, // throttled: retry after the hint
		{500, false, false},
		{503, false, false},
	} {
		for via, call := range vias {
			t.Run(via+"/"+strconv.Itoa(tc.status), func(t *testing.T) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Retry-After", "2")
					w.WriteHeader(tc.status)
					_, _ = w.Write([]byte(answer))
				}))
				defer srv.Close()
				c := httpapi.New(httpapi.Config{API: "test"})
				data, err := call(c, srv.URL+"/x?token=SECRET")
				if err == nil {
					t.Fatal("no error")
				}
				if errors.Is(err, streams.ErrRejected) != tc.rejected || errors.Is(err, streams.ErrUnauthorized) != tc.unauthed {
					t.Fatalf("%d: rejected=%v unauthorized=%v", tc.status, errors.Is(err, streams.ErrRejected), errors.Is(err, streams.ErrUnauthorized))
				}
				var se *httpapi.StatusError
				if !errors.As(err, &se) || se.Status != tc.status || se.RetryDelay() != 2*time.Second {
					t.Fatalf("status error %+v", se)
				}
				if !strings.Contains(err.Error(), "nope") || !strings.Contains(err.Error(), "$.customerId: must be a uuid") {
					t.Fatalf("error lacks the API's explanation: %v", err)
				}
				if strings.Contains(err.Error(), "SECRET") {
					t.Fatalf("error leaks the query string: %v", err)
				}
				if via == "Send" && string(data) != answer {
					t.Fatalf("error body %q, want %q", data, answer)
				}
			})
		}
	}
}

func TestNetworkErrorsAreRetryableAndHideTheURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		conn.Close()
	}))
	defer srv.Close()
	c := httpapi.New(httpapi.Config{API: "test"})
	_, err := c.JSON(context.Background(), "GET", srv.URL+"/x?client_secret=SECRET", "GET /x", nil, nil, nil)
	if err == nil || errors.Is(err, streams.ErrRejected) || errors.Is(err, streams.ErrUnauthorized) {
		t.Fatalf("want a retryable error, got %v", err)
	}
	var ne *httpapi.NetError
	if !errors.As(err, &ne) {
		t.Fatalf("want *NetError, got %T %v", err, err)
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("error leaks the URL: %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:00:05 GMT": 5 * time.Second,
	} {
		if got := httpapi.ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

// A 2xx body over the caller's limit is never cut short: the call fails
// with a *BodyTooLargeError, whether the answer announced its length or not.
func TestBodyOverTheLimitIsAnError(t *testing.T) {
	body := strings.Repeat("x", 1000)
	for _, chunked := range []bool{false, true} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !chunked {
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			}
			_, _ = w.Write([]byte(body))
			if chunked {
				w.(http.Flusher).Flush()
			}
		}))
		c := httpapi.New(httpapi.Config{API: "test"})
		for _, tc := range []struct {
			limit int64
			fits  bool
		}{{999, false}, {1000, true}} {
			req, _ := http.NewRequest("GET", srv.URL, nil)
			_, got, err := c.DoLimited(req, "GET /", nil, tc.limit)
			var tooLarge *httpapi.BodyTooLargeError
			switch {
			case tc.fits && (err != nil || string(got) != body):
				t.Fatalf("chunked %v, limit %d: %d bytes, %v", chunked, tc.limit, len(got), err)
			case !tc.fits && (!errors.As(err, &tooLarge) || tooLarge.Limit != tc.limit || errors.Is(err, streams.ErrRejected)):
				t.Fatalf("chunked %v, limit %d: %d bytes, %v; want a *BodyTooLargeError", chunked, tc.limit, len(got), err)
			}
		}
		srv.Close()
	}
}

// A call that outlives the client's timeout, whether the answer's headers
// or its body are late, fails with a retryable *NetError that says it
// timed out and is not mistaken for the caller's context ending.
func TestTimeoutIsARetryableNetError(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/late-body" {
			w.Header().Set("Content-Length", "10")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte("12345"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	c := httpapi.New(httpapi.Config{API: "test", Timeout: 100 * time.Millisecond})
	for _, path := range []string{"/late-headers", "/late-body"} {
		_, err := c.JSON(context.Background(), "GET", srv.URL+path, "GET "+path, nil, nil, nil)
		var ne *httpapi.NetError
		if !errors.As(err, &ne) || !strings.Contains(err.Error(), "timeout") {
			t.Fatalf("%s: want a *NetError saying timeout, got %T %v", path, err, err)
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			t.Fatalf("%s: a timeout passes for the caller's context ending: %v", path, err)
		}
	}
	// The caller's own end is reported as such.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.JSON(ctx, "GET", srv.URL+"/late-headers", "GET /late-headers", nil, nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the caller's deadline: got %v", err)
	}
}
