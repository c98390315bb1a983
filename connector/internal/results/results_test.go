package results_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/internal/results"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

type outcome struct {
	JobID  string `json:"jobId"`
	Status string `json:"status"`
	Owner  []byte `json:"-"`
}

func producer(t *testing.T, brokers ...string) *streams.Producer {
	t.Helper()
	p, err := streams.NewProducer(streams.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// Each result is on the topic once Publish returns, as its JSON, under the
// key the caller chose, and counted.
func TestPublishIsOnTheTopicWhenItReturns(t *testing.T) {
	broker := streamstest.Broker(t, 3, "jobs.results")
	var produced int
	pub := results.New(producer(t, broker), "jobs.results", func(n int) { produced += n },
		func(o outcome) []byte { return o.Owner })
	want := []outcome{{JobID: "j-1", Status: "Queued", Owner: []byte("u-1")}, {JobID: "j-2", Status: "Completed", Owner: []byte("u-2")}}
	for _, o := range want {
		if err := pub.Publish(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	if produced != len(want) {
		t.Fatalf("counted %d produced, want %d", produced, len(want))
	}
	got := map[string]outcome{}
	for _, m := range streamstest.ReadAll(t, broker, "jobs.results") {
		var o outcome
		if err := json.Unmarshal(m.Value, &o); err != nil {
			t.Fatalf("value %s: %v", m.Value, err)
		}
		o.Owner = m.Key
		got[o.JobID] = o
	}
	for _, o := range want {
		if g := got[o.JobID]; g.Status != o.Status || string(g.Owner) != string(o.Owner) {
			t.Fatalf("result %+v on the topic, want %+v", g, o)
		}
	}
}

// A failure names the topic and unwraps to its cause, and nothing is
// counted: the caller retries.
func TestPublishFailures(t *testing.T) {
	cases := []struct {
		name  string
		value any
		// brokers nobody listens on make the produce call fail.
		brokers string
		want    string
	}{
		{name: "value that is not JSON", value: func() {}, brokers: "127.0.0.1:1", want: "results r: encode: json: unsupported type"},
		{name: "Kafka unreachable", value: "ok", brokers: "127.0.0.1:1", want: "results r: produce 1 records"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var produced int
			pub := results.New(producer(t, tc.brokers), "r", func(n int) { produced += n }, func(any) []byte { return nil })
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			err := pub.Publish(ctx, tc.value)
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Unwrap(err) == nil {
				t.Fatalf("error %v, want one that starts %q and unwraps", err, tc.want)
			}
			if produced != 0 {
				t.Fatalf("counted %d produced for a failure", produced)
			}
		})
	}
}
