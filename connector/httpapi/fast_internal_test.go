package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// fasthttp reads no proxy variables: with one set, Send goes through
// net/http, which does.
func TestSendUsesNetHTTPBehindAProxy(t *testing.T) {
	for _, v := range proxyVars {
		t.Setenv(v, "")
	}
	if New(Config{API: "test"}).fast == nil {
		t.Fatal("no proxy set, and no fasthttp transport")
	}
	t.Setenv("HTTPS_PROXY", "http://proxy.example:3128")
	if New(Config{API: "test"}).fast != nil {
		t.Fatal("HTTPS_PROXY is set, and Send would bypass the proxy")
	}
}

// Contacthub is HTTPS: Send's connections, which fastTransport tracks,
// still get TLS from fasthttp, and a cancelled call still ends at once.
func TestSendOverTLS(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"e1"}`))
	}))
	defer srv.Close()
	defer close(release)
	for _, v := range proxyVars {
		t.Setenv(v, "")
	}
	c := New(Config{API: "test"})
	c.fast.hc.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig // trust the test certificate
	data, err := c.Send(context.Background(), "POST", srv.URL+"/events", "POST /events", nil, []byte(`{}`))
	if err != nil || string(data) != `{"id":"e1"}` {
		t.Fatalf("Send over TLS = %q, %v", data, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.Send(ctx, "POST", srv.URL+"/hang", "POST /hang", nil, []byte(`{}`)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call over TLS: %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("a cancelled call over TLS took %s to end", took)
	}
}
