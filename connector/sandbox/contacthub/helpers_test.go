package contacthub

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/contactlab/connector/connector/sandbox/internal/apitest"
)

const (
	testWorkspace = "2f0c5c1e-8a55-4a55-9c0e-0a1b2c3d4e5f"
	testNode      = "959356e3-6168-4a92-b4a5-b9d462be6177"
	testCustomer  = "87d8e330-2878-4742-a86f-dbbb3bf522ac"
	testToken     = "sandbox-token"
)

// testConfig serves per-update offsets, which the tests of the log read to
// check it; the reference's shape, without them, is tested on its own.
func testConfig() Config {
	return Config{WorkspaceID: testWorkspace, Token: testToken, NodeID: testNode, Seed: 42, UpdateOffsets: true}
}

// harness is a Server behind a real loopback listener, as the connector
// meets it.
type harness struct {
	t   testing.TB
	srv *Server
	web *httptest.Server
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &harness{t: t, srv: srv, web: apitest.Serve(t, srv.Handler())}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) apiError(t testing.TB) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(a.body, &e); err != nil {
		t.Fatalf("error body %q: %v", a.body, err)
	}
	if e.Message == "" || e.Logref == "" {
		t.Fatalf("error body %q lacks message or logref", a.body)
	}
	return e
}

// do sends a request with the test token unless header overrides
// Authorization (an empty value removes it).
func (h *harness) do(method, path string, body []byte, header map[string]string) answer {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, h.web.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	a, err := apitest.Do(h.web.Client(), req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return answer{status: a.Status, header: a.Header, body: a.Body}
}

func (h *harness) postEvent(body []byte) answer {
	h.t.Helper()
	return h.do(http.MethodPost, "/workspaces/"+testWorkspace+"/events", body, nil)
}

func ws(path string) string { return "/workspaces/" + testWorkspace + path }
