package ups

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	sbups "github.com/contactlab/connector/connector/sandbox/ups"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

const (
	testAPIKey   = "608"
	testClientID = "client-1"
	testSecret   = "s3cr3t-value"
)

// startStandIn serves the sandbox's UPS stand-in on loopback.
func startStandIn(t testing.TB, mutate func(*sbups.Config)) (*sbups.Server, string) {
	t.Helper()
	cfg := sbups.Config{ClientID: testClientID, ClientSecret: testSecret, APIKey: testAPIKey, JobDuration: 20 * time.Millisecond}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := sbups.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return srv, hs.URL
}

// testAPI is the client's options and the sink's API-wide settings, as the
// connector's config would give them.
type testAPI struct {
	Options
	MaxBodyBytes       int
	StatusPollInterval time.Duration
	JobTimeout         time.Duration
}

// testAPIConfig is the ups section as Defaults would leave it, pointed at url.
func testAPIConfig(url string) testAPI {
	return testAPI{
		Options: Options{
			BaseURL:          url,
			APIKey:           testAPIKey,
			ClientID:         testClientID,
			ClientSecret:     testSecret,
			Timeout:          5 * time.Second,
			UpdatesPerSecond: 1_000_000,
			MaxRecords:       1000,
			MaxOpenJobs:      100,
			Headroom:         1,
		},
		MaxBodyBytes:       50 * 1024,
		StatusPollInterval: 10 * time.Millisecond,
		JobTimeout:         30 * time.Second,
	}
}

// memResults keeps published job results.
type memResults struct {
	mu  sync.Mutex
	all []JobResult
}

func (m *memResults) Publish(_ context.Context, r JobResult) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.all = append(m.all, r)
	return nil
}

func (m *memResults) results() []JobResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]JobResult(nil), m.all...)
}

// harness is one sink with its background work running, over a client of
// api.
type harness struct {
	sink    *EnrichmentSink
	client  *Client
	results *memResults
	// stop is the runtime's forced stop: it cancels the background work,
	// waits for it, and closes the sink.
	stop func()
}

func startSink(t testing.TB, api testAPI, mutate func(*SinkConfig)) *harness {
	t.Helper()
	h := newSink(t, api, mutate)
	h.start(t)
	return h
}

// newSink builds a sink without starting its background work.
func newSink(t testing.TB, api testAPI, mutate func(*SinkConfig)) *harness {
	t.Helper()
	client := NewClient(api.Options, nil)
	cfg := SinkConfig{
		Pipeline:       "test",
		Collection:     schemas.UserAttributes,
		MaxRecords:     api.MaxRecords,
		MaxBodyBytes:   api.MaxBodyBytes,
		Linger:         2 * time.Millisecond,
		PollInterval:   api.StatusPollInterval,
		JobTimeout:     api.JobTimeout,
		MaxJobAttempts: 3,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	res := &memResults{}
	sink, err := NewEnrichmentSink(cfg, client, res)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{sink: sink, client: client, results: res, stop: func() {}}
	t.Cleanup(func() { h.stop() })
	return h
}

// start runs the sink's background work as the runtime's Background does:
// one goroutine per function, all under one context that stop cancels.
func (h *harness) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	h.sink.start(func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}()
	})
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			if err := h.sink.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
}

// outcomes collects the outcomes a sink reports through streams.Done for
// one batch, as the runtime would, and fails the test when a record is
// reported twice or was not in the batch.
type outcomes struct {
	t        testing.TB
	mu       sync.Mutex
	idx      map[*streams.Record]int
	errs     []error
	reported []bool
	order    []int // indexes, in the order reported
	pending  int
	all      chan struct{}
}

func newOutcomes(t testing.TB, batch []*streams.Record) *outcomes {
	o := &outcomes{t: t, idx: make(map[*streams.Record]int, len(batch)), errs: make([]error, len(batch)),
		reported: make([]bool, len(batch)), pending: len(batch), all: make(chan struct{})}
	for i, r := range batch {
		o.idx[r] = i
	}
	if len(batch) == 0 {
		close(o.all)
	}
	return o
}

// done is the streams.Done given to Write.
func (o *outcomes) done(r *streams.Record, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i, ok := o.idx[r]
	switch {
	case !ok:
		o.fail("outcome %v for a record not in the batch (offset %d)", err, r.Offset)
		return
	case o.reported[i]:
		o.fail("record %d reported twice: %v, then %v", i, o.errs[i], err)
		return
	}
	o.reported[i] = true
	o.errs[i] = err
	o.order = append(o.order, i)
	o.pending--
	if o.pending == 0 {
		close(o.all)
	}
}

// fail fails the test; without one (the Batcher's tests report outcomes on
// the test's goroutine), it panics, which fails the test as well.
func (o *outcomes) fail(format string, args ...any) {
	if o.t == nil {
		panic(fmt.Sprintf(format, args...))
	}
	o.t.Errorf(format, args...)
}

// left is how many records have no outcome yet.
func (o *outcomes) left() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pending
}

// wait waits, up to timeout, for every outcome and returns them.
func (o *outcomes) wait(t testing.TB, timeout time.Duration) []error {
	t.Helper()
	select {
	case <-o.all:
	case <-time.After(timeout):
		t.Fatalf("%d of %d outcomes still missing after %s", o.left(), len(o.errs), timeout)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]error(nil), o.errs...)
}

// write calls Write, which returns before the outcomes, and waits for them
// with a deadline.
func write(t testing.TB, s *EnrichmentSink, batch []*streams.Record) []error {
	t.Helper()
	o := newOutcomes(t, batch)
	s.Write(context.Background(), batch, o.done)
	return o.wait(t, 30*time.Second)
}

// record is a Kafka record of an attributes update of user, at offset.
func record(user string, offset int64, value string) *streams.Record {
	return &streams.Record{Topic: "profiles", Partition: 0, Offset: offset,
		Key: []byte(user), Value: []byte(`{"userId":"` + user + `","value":` + value + `}`)}
}

func attrValue(i int) string { return fmt.Sprintf(`{"n":["%d"]}`, i) }

// brokerWithUsers is a broker of the test's own whose profiles topic holds
// an attributes update of each of n users (u000, u001, ...), at offsets
// 0 to n-1.
func brokerWithUsers(t *testing.T, n int) string {
	t.Helper()
	broker := streamstest.Broker(t, 2, "profiles", "profiles.dlq")
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		r := record(fmt.Sprintf("u%03d", i), int64(i), attrValue(i))
		msgs[i] = kafka.Message{Key: r.Key, Value: r.Value}
	}
	streamstest.Produce(t, broker, "profiles", msgs...)
	return broker
}

// testPipeline is a pipeline of the tests from the profiles topic of
// broker into sink, in group, that stops within grace: two workers,
// batches of 50, commits every 20ms.
func testPipeline(t *testing.T, broker, group string, grace time.Duration, sink streams.Sink) *streams.Pipeline {
	t.Helper()
	p, err := streams.NewPipeline(streams.PipelineConfig{
		Name: "test", Brokers: []string{broker}, GroupID: group, Topics: []string{"profiles"}, DeadLetterTopic: "profiles.dlq",
		Concurrency: 2, MaxInFlight: 1000, BatchMaxRecords: 50, BatchLinger: 2 * time.Millisecond,
		CommitInterval: 20 * time.Millisecond, ShutdownGrace: grace,
		SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
	}, sink)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// serveFakeAPI serves api, a stand-in for the enrichment API written for
// one test, until the test ends. Token requests are answered here, with a
// token that lasts 8 hours, so that api answers the rest; every answer is
// JSON.
func serveFakeAPI(t *testing.T, api http.Handler) *httptest.Server {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/oauth2/token") {
			_, _ = io.WriteString(w, `{"token_type":"bearer","access_token":"tok","expires_in":28800}`)
			return
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	return hs
}
