package contacthub

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/contactlab/connector/connector/sandbox/internal/apitest"
)

// BenchmarkUpdatesPage4000 serves full pages over loopback HTTP, as the
// connector's stream source reads them. The sandbox must serve more than
// 50,000 updates/s on two cores; updates/s is reported.
func BenchmarkUpdatesPage4000(b *testing.B) {
	const logSize = 40_000
	h := newHarness(b, testConfig())
	h.srv.AppendUpdates(logSize)
	client := h.web.Client()
	urls := make([]string, logSize/maxPageSize)
	for i := range urls {
		urls[i] = h.web.URL + ws("/updates?size=4000&offset="+strconv.Itoa(i*maxPageSize))
	}
	req := func(u string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, u, nil)
		r.Header.Set("Authorization", "Bearer "+testToken)
		return r
	}
	var bytesRead int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		resp, err := client.Do(req(urls[i%len(urls)]))
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		bytesRead += n
	}
	b.ReportMetric(float64(b.N)*maxPageSize/b.Elapsed().Seconds(), "updates/s")
	b.SetBytes(bytesRead / int64(b.N))
}

// BenchmarkCreateEvent posts valid events from parallel clients over
// loopback; the sandbox must accept more than 5,000 events/s on two cores.
func BenchmarkCreateEvent(b *testing.B) {
	h := newHarness(b, testConfig())
	body := eventBody(b, testCustomer, 600)
	header := http.Header{"Authorization": {"Bearer " + testToken}, "Content-Type": {"application/json"}}
	apitest.PostParallel(b, h.web, h.web.URL+ws("/events"), header, body, func(resp *http.Response) error {
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendUpdates is how fast tests can seed the log.
func BenchmarkAppendUpdates(b *testing.B) {
	s, err := New(testConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.AppendUpdates(appendBatch)
	}
	b.ReportMetric(float64(b.N)*appendBatch/b.Elapsed().Seconds(), "updates/s")
}

// FuzzParsePageQuery: whatever the query, parsing must not panic, and a query
// it accepts must be within the reference's bounds.
func FuzzParsePageQuery(f *testing.F) {
	for _, s := range []string{"", "size=4000&offset=10", "size=4001", "timestamp=1700000000000&entity=EVENT",
		"nodeId=959356e3-6168-4a92-b4a5-b9d462be6177", "offset=-1", "size=%zz", "entity=CUSTOMER&entity=EVENT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		pq, errs := parsePageQuery(q)
		if len(errs) > 0 {
			return
		}
		if pq.size < 0 || pq.size > maxPageSize || pq.after < 0 || pq.sinceMillis < 0 {
			t.Fatalf("accepted %q as %+v", raw, pq)
		}
		if pq.key.node != "" && !isUUID(pq.key.node) {
			t.Fatalf("accepted node %q", pq.key.node)
		}
	})
}
