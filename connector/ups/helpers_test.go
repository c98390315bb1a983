package ups

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/config"
	sbups "github.com/contactlab/connector/connector/sandbox/ups"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
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

// testAPIConfig is the ups section as Defaults would leave it, pointed at url.
func testAPIConfig(url string) config.UPS {
	return config.UPS{
		BaseURL:            url,
		APIKey:             testAPIKey,
		ClientID:           testClientID,
		ClientSecret:       config.NewSecret(testSecret),
		Timeout:            5 * time.Second,
		UpdatesPerSecond:   1_000_000,
		MaxRecords:         1000,
		MaxBodyBytes:       50 * 1024,
		StatusPollInterval: 10 * time.Millisecond,
		MaxOpenJobs:        100,
		Headroom:           1,
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

// harness is one sink with its units running, over a client of api.
type harness struct {
	sink    *EnrichmentSink
	client  *Client
	results *memResults
	stop    func()
}

func startSink(t testing.TB, api config.UPS, mutate func(*SinkConfig)) *harness {
	t.Helper()
	client := NewClient(api, nil)
	cfg := SinkConfig{
		Pipeline:       "test",
		Collection:     schemas.UserAttributes,
		MaxRecords:     api.MaxRecords,
		MaxBodyBytes:   api.MaxBodyBytes,
		Linger:         2 * time.Millisecond,
		PollInterval:   api.StatusPollInterval,
		JobTimeout:     api.JobTimeout,
		MaxJobAttempts: 3,
		Drain:          2 * time.Second,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	res := &memResults{}
	sink, err := NewEnrichmentSink(cfg, client, res)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, u := range []interface{ Run(context.Context) error }{sink.Sender(), sink.Follower()} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := u.Run(ctx); err != nil {
				t.Errorf("unit: %v", err)
			}
		}()
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
	}
	t.Cleanup(stop)
	return &harness{sink: sink, client: client, results: res, stop: stop}
}

// record is a Kafka record of an attributes update of user, at offset.
func record(user string, offset int64, value string) *streams.Record {
	return &streams.Record{Topic: "profiles", Partition: 0, Offset: offset,
		Key: []byte(user), Value: []byte(`{"userId":"` + user + `","value":` + value + `}`)}
}

// write calls Write with a deadline and returns the per-record errors.
func write(t testing.TB, s *EnrichmentSink, batch []*streams.Record) []error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.Write(ctx, batch)
	errs := make([]error, len(batch))
	if err == nil {
		return errs
	}
	be, ok := err.(*streams.BatchError)
	if !ok {
		t.Fatalf("Write: %v", err)
	}
	return be.Errs
}

func attrValue(i int) string { return fmt.Sprintf(`{"n":["%d"]}`, i) }

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
