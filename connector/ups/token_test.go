package ups

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/streams"
)

// tokenEndpoint answers token requests with a new token each time and
// checks that the credentials come as form fields.
type tokenEndpoint struct {
	t      *testing.T
	issued atomic.Int64
	status int // when not 0, refuse with it
	ttl    int
}

func (e *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	if _, _, basic := r.BasicAuth(); basic || r.URL.RawQuery != "" {
		e.t.Errorf("credentials sent in a header or the URL: basic=%v query=%q", basic, r.URL.RawQuery)
	}
	if form.Get("grant_type") != "client_credentials" || form.Get("client_id") != testClientID || form.Get("client_secret") != testSecret {
		e.t.Errorf("form %v", form)
	}
	w.Header().Set("Content-Type", "application/json")
	if e.status != 0 {
		w.WriteHeader(e.status)
		_, _ = io.WriteString(w, `{"error":"invalid_client","error_description":"unknown client_id or wrong client_secret"}`)
		return
	}
	n := e.issued.Add(1)
	_, _ = fmt.Fprintf(w, `{"token_type":"bearer","access_token":"tok-%d","expires_in":%d}`, n, e.ttl)
}

func TestTokenSourceCachesAndRenewsBeforeExpiry(t *testing.T) {
	ep := &tokenEndpoint{t: t, ttl: 100}
	hs := httptest.NewServer(ep)
	defer hs.Close()
	ts := NewTokenSource(hs.URL, attributesTokenPath, TokenStyleForm, testClientID, testSecret, hs.Client())
	now := time.Now()
	ts.now = func() time.Time { return now }
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tok, err := ts.Token(ctx); err != nil || tok != "tok-1" {
				t.Errorf("token %q %v", tok, err)
			}
		}()
	}
	wg.Wait()
	if ep.issued.Load() != 1 {
		t.Fatalf("%d fetches for 20 concurrent callers", ep.issued.Load())
	}
	// A tenth of the 100 s lifetime before expiry, the token is renewed.
	now = now.Add(89 * time.Second)
	if tok, _ := ts.Token(ctx); tok != "tok-1" {
		t.Fatalf("renewed too early: %s", tok)
	}
	now = now.Add(2 * time.Second)
	if tok, _ := ts.Token(ctx); tok != "tok-2" {
		t.Fatalf("not renewed 9 s before expiry: %s", tok)
	}
	// A 401 answered to tok-2 invalidates it once; a stale report about
	// tok-1 changes nothing.
	ts.Invalidate("tok-1")
	if tok, _ := ts.Token(ctx); tok != "tok-2" {
		t.Fatalf("a stale invalidation dropped the live token: %s", tok)
	}
	ts.Invalidate("tok-2")
	if tok, _ := ts.Token(ctx); tok != "tok-3" {
		t.Fatalf("after a 401: %s", tok)
	}
}

func TestTokenErrorsPauseAndNeverShowTheSecret(t *testing.T) {
	for _, tc := range []struct {
		status       int
		unauthorized bool
	}{
		{401, true}, // invalid_client
		{400, true}, // invalid_grant: the credential, not the record
		{503, false},
		{429, false},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			hs := httptest.NewServer(&tokenEndpoint{t: t, status: tc.status})
			defer hs.Close()
			ts := NewTokenSource(hs.URL, statusTokenPath, TokenStyleForm, testClientID, testSecret, hs.Client())
			_, err := ts.Token(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, streams.ErrUnauthorized) != tc.unauthorized || errors.Is(err, streams.ErrRejected) {
				t.Fatalf("%v: unauthorized=%v rejected=%v", err, errors.Is(err, streams.ErrUnauthorized), errors.Is(err, streams.ErrRejected))
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), testSecret) {
				t.Fatalf("the secret leaks: %v", err)
			}
			if !strings.Contains(err.Error(), statusTokenPath) {
				t.Fatalf("the error does not say which endpoint: %v", err)
			}
		})
	}
	// Nobody listening: a network error, retryable, without the secret.
	ts := NewTokenSource("http://127.0.0.1:1", attributesTokenPath, TokenStyleForm, testClientID, testSecret, http.DefaultClient)
	_, err := ts.Token(context.Background())
	var ne *httpapi.NetError
	if !errors.As(err, &ne) || errors.Is(err, streams.ErrUnauthorized) || strings.Contains(err.Error(), testSecret) {
		t.Fatalf("unreachable endpoint: %T %v", err, err)
	}
}

func TestClientRetriesOnceWithANewTokenOn401(t *testing.T) {
	var tokens, calls atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/oauth2/token") {
			_, _ = fmt.Fprintf(w, `{"token_type":"bearer","access_token":"tok-%d","expires_in":28800}`, tokens.Add(1))
			return
		}
		calls.Add(1)
		// Only the second token works.
		if r.Header.Get("Authorization") != "Bearer tok-2" {
			w.WriteHeader(401)
			return
		}
		_, _ = io.WriteString(w, `{"version":1,"jobId":"j","message":"Accepted"}`)
	}))
	defer hs.Close()
	c := NewClient(testAPIConfig(hs.URL).Options, nil)
	if _, err := c.Enrich(context.Background(), "rr-segments", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if tokens.Load() != 2 || calls.Load() != 2 {
		t.Fatalf("tokens %d calls %d; want one renewal and one retry", tokens.Load(), calls.Load())
	}
	// A token the service keeps refusing: one retry, then a credential
	// failure for the runtime to pause on.
	tokens.Store(10)
	c = NewClient(testAPIConfig(hs.URL).Options, nil)
	_, err := c.Enrich(context.Background(), "rr-segments", []byte("x"))
	if !errors.Is(err, streams.ErrUnauthorized) {
		t.Fatalf("want ErrUnauthorized, got %v", err)
	}
}

func TestTokenSourceBacksOffAfterAFailedFetch(t *testing.T) {
	// The endpoint fails; callers within the back-off get that failure (and
	// the time left) without a fetch; after it, one fetch; once it works,
	// no back-off remains.
	var status atomic.Int32
	var fetches atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if code := int(status.Load()); code != 0 {
			w.WriteHeader(code)
			_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		_, _ = fmt.Fprintf(w, `{"token_type":"bearer","access_token":"tok-%d","expires_in":28800}`, fetches.Load())
	}))
	defer hs.Close()
	ts := NewTokenSource(hs.URL, attributesTokenPath, TokenStyleForm, testClientID, testSecret, hs.Client())
	now := time.Now()
	ts.now = func() time.Time { return now }
	ctx := context.Background()

	for _, tc := range []struct {
		name         string
		status       int
		advance      time.Duration
		fetches      int64
		unauthorized bool
		held         bool // answered from the back-off, with the time left
	}{
		{name: "first failure fetches", status: 503, fetches: 1},
		{name: "within the back-off: no fetch", status: 503, fetches: 1, held: true},
		{name: "still within it", status: 503, advance: 50 * time.Millisecond, fetches: 1, held: true},
		{name: "after it: one fetch", status: 401, advance: time.Minute, fetches: 2, unauthorized: true},
		{name: "a refused credential is held too, and still pauses", status: 401, fetches: 2, unauthorized: true, held: true},
		{name: "after the back-off, a working endpoint", status: 0, advance: time.Minute, fetches: 3},
	} {
		status.Store(int32(tc.status))
		now = now.Add(tc.advance)
		tok, err := ts.Token(ctx)
		if got := fetches.Load(); got != tc.fetches {
			t.Fatalf("%s: %d fetches, want %d", tc.name, got, tc.fetches)
		}
		if tc.status == 0 {
			if err != nil || tok == "" {
				t.Fatalf("%s: %q %v", tc.name, tok, err)
			}
			continue
		}
		if err == nil || errors.Is(err, streams.ErrUnauthorized) != tc.unauthorized || errors.Is(err, streams.ErrRejected) {
			t.Fatalf("%s: %v; want unauthorized=%v", tc.name, err, tc.unauthorized)
		}
		if held := streams.RetryDelayOf(err) > 0; held != tc.held {
			t.Fatalf("%s: %v carries a wait of %s; want one: %v", tc.name, err, streams.RetryDelayOf(err), tc.held)
		}
	}
	// A 401 from the service after success: the renewal is not held back.
	tok, _ := ts.Token(ctx)
	ts.Invalidate(tok)
	if tok2, err := ts.Token(ctx); err != nil || tok2 == tok || fetches.Load() != 4 {
		t.Fatalf("renewal after a 401: %q %v, %d fetches", tok2, err, fetches.Load())
	}
}

// In query style the secret is in the URL, which net/http quotes in its
// errors: no error of the token source may show it, whatever failed.
func TestQueryStyleTokenErrorsNeverShowTheSecret(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("client_secret") != testSecret || r.ContentLength > 0 {
			t.Errorf("query style sent %q with a body of %d bytes", r.URL.RawQuery, r.ContentLength)
		}
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
	}))
	defer refusing.Close()
	for _, base := range []string{refusing.URL, "http://127.0.0.1:1", "http://no-such-host.invalid"} {
		ts := NewTokenSource(base, attributesTokenPath, TokenStyleQuery, testClientID, testSecret, http.DefaultClient)
		_, err := ts.Token(context.Background())
		if err == nil || strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), testSecret) {
			t.Fatalf("%s: %v", base, err)
		}
	}
}
