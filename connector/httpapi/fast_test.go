package httpapi_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/streams"
)

// Send sends the method, the URL as built, the headers and the body, and
// returns a 2xx answer's body.
func TestSendRequestAndAnswer(t *testing.T) {
	type seen struct {
		method, uri, auth, ctype, body string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"e1"}`))
	}))
	defer srv.Close()
	c := httpapi.New(httpapi.Config{API: "test"})
	h := http.Header{"Authorization": {"Bearer T"}, "Content-Type": {"application/json"}}
	data, err := c.Send(context.Background(), "POST", srv.URL+"/workspaces/w%2F1/events?x=1", "POST /events", h, []byte(`{"a":1}`))
	if err != nil || string(data) != `{"id":"e1"}` {
		t.Fatalf("Send = %q, %v", data, err)
	}
	want := seen{"POST", "/workspaces/w%2F1/events?x=1", "Bearer T", "application/json", `{"a":1}`}
	if s := <-got; s != want {
		t.Fatalf("the server saw %+v, want %+v", s, want)
	}
	if len(h) != 2 || h.Get("Authorization") != "Bearer T" {
		t.Fatalf("Send wrote into the caller's header: %v", h)
	}
}

// A cancelled caller ends its call at once, as net/http does; the call's
// own timeout ends it as a retryable *NetError, not as the caller's end.
func TestSendCancelAndTimeout(t *testing.T) {
	arrived := make(chan struct{}, 4)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	c := httpapi.New(httpapi.Config{API: "test", Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Send(ctx, "POST", srv.URL, "POST /", nil, []byte(`{}`))
		errc <- err
	}()
	<-arrived
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled call: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled call did not end")
	}

	c = httpapi.New(httpapi.Config{API: "test", Timeout: 200 * time.Millisecond})
	_, err := c.Send(context.Background(), "POST", srv.URL, "POST /", nil, []byte(`{}`))
	var ne *httpapi.NetError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "timeout") || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed-out call: %v, want a *NetError saying timeout", err)
	}
	if errors.Is(err, streams.ErrRejected) || errors.Is(err, streams.ErrUnauthorized) {
		t.Fatalf("a timeout must be retried: %v", err)
	}
}

// A connection refused is a retryable *NetError that names no URL.
func TestSendRefusedNamesNoURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := httpapi.New(httpapi.Config{API: "test"})
	_, err = c.Send(context.Background(), "POST", "http://"+addr+"/x?token=SECRET", "POST /x", nil, []byte(`{}`))
	var ne *httpapi.NetError
	if !errors.As(err, &ne) || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "POST /x") {
		t.Fatalf("refused call: %v, want a *NetError naming the route, not the URL", err)
	}
}
