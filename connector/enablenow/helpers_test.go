package enablenow_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/enablenow"
	"github.com/contactlab/connector/connector/httpapi"
	standin "github.com/contactlab/connector/connector/sandbox/enablenow"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/streams"
)

const testToken = "test-enablenow-token"

// api is the sandbox's EnableNow stand-in behind a real TCP listener, with
// a count of the API requests it received (control routes excluded).
type api struct {
	srv   *standin.Server
	url   string
	calls atomic.Int64

	mu     sync.Mutex
	bodies []string // creation bodies, in arrival order
}

func startAPI(t testing.TB, cfg standin.Config) *api {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	srv, err := standin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := &api{srv: srv}
	h := srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/") {
			a.calls.Add(1)
			if r.Method == http.MethodPost {
				b, _ := io.ReadAll(r.Body)
				a.mu.Lock()
				a.bodies = append(a.bodies, string(b))
				a.mu.Unlock()
				r.Body = io.NopCloser(strings.NewReader(string(b)))
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	a.url = ts.URL
	return a
}

func (a *api) createBodies() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.bodies...)
}

// enablenowConfig is the enablenow section pointing at url, adjusted by
// mutate, as client options with the defaults the connector's config
// applies.
func enablenowConfig(url string, mutate func(*service.EnableNowConfig)) enablenow.Options {
	sec := &service.EnableNowConfig{BaseURL: url, Token: config.NewSecret(testToken), Timeout: 5 * time.Second}
	if mutate != nil {
		mutate(sec)
	}
	c := config.Config{Sections: map[string]any{"enablenow": sec}}
	c.Defaults()
	return sec.Options()
}

func newClient(url string, mutate func(*service.EnableNowConfig)) *enablenow.Client {
	return enablenow.NewClient(enablenowConfig(url, mutate), httpapi.NewMetrics(nil))
}

// unmonitoredSink is a categorization sink of a's API, without a monitor,
// that publishes its results to res.
func unmonitoredSink(a *api) (sink *enablenow.CategorizationSink, res *memResults) {
	res = &memResults{}
	return enablenow.NewCategorizationSink(newClient(a.url, nil), res, nil, nil, nil), res
}

// memResults keeps published results in memory; failNext makes the next
// publishes fail, as Kafka being unreachable would.
type memResults struct {
	mu       sync.Mutex
	results  []enablenow.JobResult
	failNext atomic.Int64
}

var errKafkaDown = errors.New("kafka unreachable (test)")

func (m *memResults) Publish(_ context.Context, r enablenow.JobResult) error {
	if m.failNext.Add(-1) >= 0 {
		return errKafkaDown
	}
	m.failNext.Store(0)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.results = append(m.results, r)
	return nil
}

func (m *memResults) all() []enablenow.JobResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]enablenow.JobResult(nil), m.results...)
}

// byJob groups the results by job id, in publication order.
func (m *memResults) byJob() map[string][]enablenow.JobResult {
	out := map[string][]enablenow.JobResult{}
	for _, r := range m.all() {
		out[r.JobID] = append(out[r.JobID], r)
	}
	return out
}

// discardResults drops results, for benchmarks.
type discardResults struct{}

func (discardResults) Publish(context.Context, enablenow.JobResult) error { return nil }

var offsets atomic.Int64

// record is a request record at a fresh offset of topic "categorization.requests".
func record(key, value string) *streams.Record {
	return &streams.Record{Topic: "categorization.requests", Partition: 1, Offset: offsets.Add(1), Key: []byte(key), Value: []byte(value), Attempts: 1}
}

// write runs one record through the sink, as the runtime would, and
// returns its outcome.
func write(t testing.TB, s streams.Sink, r *streams.Record) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return writeBatch(t, ctx, s, r)[0]
}

// writeBatch hands batch to s.Write under ctx and waits, with a deadline,
// for each record's one outcome, which may come after Write returned.
func writeBatch(t testing.TB, ctx context.Context, s streams.Sink, batch ...*streams.Record) []error {
	t.Helper()
	errs := make([]error, len(batch))
	pending := make(map[*streams.Record]int, len(batch))
	for i, r := range batch {
		pending[r] = i
	}
	var mu sync.Mutex
	all := make(chan struct{})
	var extra []string
	s.Write(ctx, batch, func(r *streams.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		i, ok := pending[r]
		if !ok {
			extra = append(extra, fmt.Sprintf("%s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err))
			return
		}
		delete(pending, r)
		errs[i] = err
		if len(pending) == 0 {
			close(all)
		}
	})
	select {
	case <-all:
	case <-time.After(20 * time.Second):
		t.Fatalf("outcomes of %d records of %d still missing", len(pending), len(batch))
	}
	mu.Lock()
	defer mu.Unlock()
	if extra != nil {
		t.Fatalf("outcomes reported twice or for records not in the batch: %v", extra)
	}
	return errs
}

// runMonitor runs m until the test ends, as the sink's Start would.
func runMonitor(t testing.TB, m *enablenow.JobMonitor) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- enablenow.RunMonitor(ctx, m) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("monitor Run: %v", err)
		}
	})
}
