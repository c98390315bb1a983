// Package results publishes what became of asynchronous jobs (EnableNow
// categorizations, UPS enrichment jobs) to a results topic, as JSON, and
// returns only once Kafka acknowledged each one, so a request is
// acknowledged only after its result is stored.
//
// It owns the encoding and the produce call; what a result holds and which
// key it goes under (and so which partition keeps its order) is the API
// package's. It must not retry: a failed Publish is the caller's to retry
// with its own back-off.
package results

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
)

// Publisher publishes results of type R to one topic. It is safe for
// concurrent use.
type Publisher[R any] struct {
	p     *streams.Producer
	topic string
	key   func(R) []byte
	// produced counts what Kafka acknowledged (the runtime's producer metric).
	produced func(n int)
}

// New publishes to topic through p, each result under key(r); produced
// (may be nil) counts what Kafka acknowledged.
func New[R any](p *streams.Producer, topic string, produced func(n int), key func(R) []byte) *Publisher[R] {
	if produced == nil {
		produced = func(int) {}
	}
	return &Publisher[R]{p: p, topic: topic, key: key, produced: produced}
}

// Publish writes r as JSON and returns once Kafka acknowledged it.
func (k *Publisher[R]) Publish(ctx context.Context, r R) error {
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("results %s: encode: %w", k.topic, err)
	}
	if err := k.p.Produce(ctx, kafka.Message{Topic: k.topic, Key: k.key(r), Value: v}); err != nil {
		return fmt.Errorf("results %s: %w", k.topic, err)
	}
	k.produced(1)
	return nil
}

// Topic is the topic the results go to.
func (k *Publisher[R]) Topic() string { return k.topic }
