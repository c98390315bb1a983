// Package apitest is what the tests of the sandbox stand-ins share to talk
// to a stand-in over real loopback HTTP, as the connector meets it: serving
// its handler, reading an answer to the end, and posting in parallel for a
// throughput benchmark. It is for tests only.
package apitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Serve serves h on a loopback listener until the test ends.
func Serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// Answer is an HTTP answer read to the end.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends req with c and reads the answer to the end. The error is the
// transport's, or the body read's (wrapped as "reading body: ...").
func Do(c *http.Client, req *http.Request) (Answer, error) {
	resp, err := c.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, fmt.Errorf("reading body: %w", err)
	}
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// PostParallel posts body to url with header from parallel clients, b.N
// times in all, over a clone of srv's transport that keeps enough idle
// connections for every client. check judges each answer (its body is
// drained and closed afterwards); an error it returns fails the benchmark.
// The timer starts here.
func PostParallel(b *testing.B, srv *httptest.Server, url string, header http.Header, body []byte, check func(*http.Response) error) {
	b.Helper()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	client := &http.Client{Transport: tr}
	b.Cleanup(tr.CloseIdleConnections)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			req.Header = header.Clone()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			err = check(resp)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
