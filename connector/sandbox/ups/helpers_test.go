package ups

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/sandbox/internal/apitest"
	"github.com/contactlab/connector/internal/testkit"
)

const (
	testClientID     = "5934de97c95e1ced"
	testClientSecret = "2l9dr0jkink11ad49hg93it52d"
	testAPIKey       = "608"
)

// newFakeClock is the clock tests move by hand, so that token expiry, the
// throttling budget and job progress happen exactly when a test says.
func newFakeClock() *testkit.Clock {
	// The reference's example job was created at this instant; starting
	// there makes the golden status answer read like the reference.
	return testkit.NewClock(time.Date(2023, 6, 3, 8, 7, 17, 992_000_000, time.UTC))
}

// sandbox is a Server behind a real loopback HTTP server.
type sandbox struct {
	t   testing.TB
	srv *Server
	hs  *httptest.Server
}

// testConfig is a valid Config with the test credentials; tests change what
// they exercise.
func testConfig() Config {
	return Config{ClientID: testClientID, ClientSecret: testClientSecret, APIKey: testAPIKey}
}

// newSandbox starts a Server on loopback; clock nil means the real clock.
func newSandbox(t testing.TB, cfg Config, clock *testkit.Clock) *sandbox {
	t.Helper()
	now := time.Now
	if clock != nil {
		now = clock.Now
	}
	srv, err := newServer(cfg, now)
	if err != nil {
		t.Fatalf("newServer: %v", err)
	}
	return &sandbox{t: t, srv: srv, hs: apitest.Serve(t, srv.Handler())}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decoding %s: %v", a.body, err)
	}
}

func (sb *sandbox) do(method, path string, header http.Header, body []byte) answer {
	sb.t.Helper()
	req, err := http.NewRequest(method, sb.hs.URL+path, bytes.NewReader(body))
	if err != nil {
		sb.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	a, err := apitest.Do(sb.hs.Client(), req)
	if err != nil {
		sb.t.Fatalf("%s %s: %v", method, path, err)
	}
	return answer{status: a.Status, header: a.Header, body: a.Body}
}

// testCredentials are the client-credentials grant of the test client, a
// fresh map for each caller to change.
func testCredentials() url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {testClientID}, "client_secret": {testClientSecret}}
}

// token gets a token of svc with the test credentials as form fields.
func (sb *sandbox) token(svc service) string {
	sb.t.Helper()
	a := sb.requestToken(svc, "form", testCredentials())
	if a.status != http.StatusOK {
		sb.t.Fatalf("token: %d %s", a.status, a.body)
	}
	var ta tokenAnswer
	a.decode(sb.t, &ta)
	return ta.AccessToken
}

func tokenPath(svc service) string {
	if svc == statusService {
		return "/common-status/v1/oauth2/token"
	}
	return "/attributes/api/v1/oauth2/token"
}

// requestToken asks for a token with the credentials sent as "form",
// "query" or "basic".
func (sb *sandbox) requestToken(svc service, how string, v url.Values) answer {
	sb.t.Helper()
	path := tokenPath(svc)
	h := http.Header{}
	var body []byte
	switch how {
	case "form":
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		body = []byte(v.Encode())
	case "query":
		path += "?" + v.Encode()
	case "basic":
		req, _ := http.NewRequest(http.MethodPost, "http://x", nil)
		req.SetBasicAuth(v.Get("client_id"), v.Get("client_secret"))
		h.Set("Authorization", req.Header.Get("Authorization"))
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		body = []byte(url.Values{"grant_type": v["grant_type"]}.Encode())
	default:
		sb.t.Fatalf("requestToken: unknown way %q", how)
	}
	return sb.do(http.MethodPost, path, h, body)
}

func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}

// send sends an enrichment payload, gzipped, to collection.
func (sb *sandbox) send(method, collection, tok string, payload any) answer {
	sb.t.Helper()
	h := bearer(tok)
	h.Set("Content-Encoding", "gzip")
	h.Set("Content-Type", "application/json")
	return sb.do(method, "/attributes/api/v1/"+testAPIKey+"/"+collection, h, gz(sb.t, payload))
}

// accepted sends payload and fails the test unless it is accepted.
func (sb *sandbox) accepted(method, collection, tok string, payload any) acceptedAnswer {
	sb.t.Helper()
	a := sb.send(method, collection, tok, payload)
	if a.status != http.StatusOK {
		sb.t.Fatalf("%s %s: %d %.300s", method, collection, a.status, a.body)
	}
	var aa acceptedAnswer
	a.decode(sb.t, &aa)
	return aa
}

func (sb *sandbox) status(tok, jobID, query string) answer {
	sb.t.Helper()
	path := "/common-status/v1/" + testAPIKey + "/job/" + jobID + "/events"
	if query != "" {
		path += "?" + query
	}
	return sb.do(http.MethodGet, path, bearer(tok), nil)
}

// gz gzips payload, JSON-encoding it unless it is already bytes.
func gz(t testing.TB, payload any) []byte {
	t.Helper()
	raw, ok := payload.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rec is a record as a client writes it.
type rec struct {
	UserID string `json:"userId"`
	Value  any    `json:"value"`
}

// attrs returns n valid rr-userattributes records for users prefix0..n-1.
func attrs(prefix string, n int) []rec {
	out := make([]rec, n)
	for i := range out {
		out[i] = rec{UserID: fmt.Sprintf("%s%d", prefix, i), Value: map[string]any{"fav_color": []string{"red", "green"}}}
	}
	return out
}

// segs returns n valid rr-segments records for users prefix0..n-1.
func segs(prefix string, n int) []rec {
	out := make([]rec, n)
	for i := range out {
		out[i] = rec{UserID: fmt.Sprintf("%s%d", prefix, i), Value: map[string]string{"Member": "isMember-t1"}}
	}
	return out
}

func batch(records []rec) map[string]any { return map[string]any{"data": records} }

func mustContain(t testing.TB, body []byte, want string) {
	t.Helper()
	if !strings.Contains(string(body), want) {
		t.Errorf("answer %s does not contain %q", body, want)
	}
}
