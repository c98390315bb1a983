package enablenow

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/sandbox/internal/apitest"
	"github.com/contactlab/connector/internal/testkit"
)

const testToken = "s3cret-token"

// sandbox is a Server behind a real TCP listener, with a client that talks
// to it the way the connector would.
type sandbox struct {
	srv    *Server
	url    string
	client *http.Client
	// credential is the header sent by default; tests of auth override it.
	authHeader, authValue string
}

func start(t *testing.T, cfg Config) *sandbox {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := apitest.Serve(t, srv.Handler())
	tr := &http.Transport{
		// A new connection per request: Go's transport silently retries a
		// request that carries Idempotency-Key when a reused connection
		// fails, which would hide a reset from the test that provokes it.
		DisableKeepAlives: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	sb := &sandbox{
		srv:        srv,
		url:        ts.URL,
		client:     &http.Client{Transport: tr, Timeout: 10 * time.Second},
		authHeader: "Authorization",
		authValue:  "Bearer " + testToken,
	}
	if cfg.AuthHeader != "" && !cfg.usesBearer() {
		sb.authHeader, sb.authValue = cfg.AuthHeader, testToken
	}
	return sb
}

// answer is an HTTP answer read to the end.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// request sends one request; header entries replace the default credential
// when they name its header, and an empty value removes a header. It returns
// the transport error instead of failing, so it can run in goroutines and
// observe resets.
func (sb *sandbox) request(method, path, body string, header map[string]string) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, sb.url+path, rd)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set(sb.authHeader, sb.authValue)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	a, err := apitest.Do(sb.client, req)
	if err != nil {
		return answer{}, err
	}
	return answer{status: a.Status, header: a.Header, body: a.Body}, nil
}

// must is request for the test goroutine: a transport error fails the test.
func (sb *sandbox) must(t *testing.T, method, path, body string, header map[string]string) answer {
	t.Helper()
	a, err := sb.request(method, path, body, header)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

// create posts a job, with an Idempotency-Key when key is not empty.
func (sb *sandbox) create(t *testing.T, body, key string) answer {
	t.Helper()
	var h map[string]string
	if key != "" {
		h = map[string]string{"Idempotency-Key": key}
	}
	return sb.must(t, http.MethodPost, "/v2/categorization-jobs", body, h)
}

// createdJob posts a job that must be created and returns it.
func (sb *sandbox) createdJob(t *testing.T, body, key string) jobResource {
	t.Helper()
	a := sb.create(t, body, key)
	if a.status != http.StatusCreated {
		t.Fatalf("create %s: status %d, want 201; body %s", body, a.status, a.body)
	}
	return decode[jobResource](t, a)
}

func (sb *sandbox) getJob(t *testing.T, id string) jobResource {
	t.Helper()
	a := sb.must(t, http.MethodGet, "/v2/categorization-jobs/"+id, "", nil)
	if a.status != http.StatusOK {
		t.Fatalf("get job %s: status %d; body %s", id, a.status, a.body)
	}
	return decode[jobResource](t, a)
}

func (sb *sandbox) stats(t *testing.T) Stats {
	t.Helper()
	a := sb.must(t, http.MethodGet, "/stats", "", map[string]string{sb.authHeader: ""})
	if a.status != http.StatusOK {
		t.Fatalf("GET /stats: status %d; body %s", a.status, a.body)
	}
	return decode[Stats](t, a)
}

func decode[T any](t *testing.T, a answer) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("decoding %T from %q: %v", v, a.body, err)
	}
	return v
}

// newFakeClock is a clock that moves only when told, so status progression
// and key expiry can be checked exactly.
func newFakeClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC))
}

// isReset reports whether err is what a client sees when the server drops
// the connection without an answer. Linger 0 makes the server send RST, so
// the client's read fails with ECONNRESET; EOF is accepted too, for a read
// that races the close.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
