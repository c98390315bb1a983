package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"
)

// PublisherConfig configures a Publisher of values of type T to one topic.
type PublisherConfig[T any] struct {
	Brokers  []string
	Security Security
	Topic    string
	// Encode turns a value into the record's value; default json.Marshal.
	Encode func(T) ([]byte, error)
	// Validate is the domain type's own rule, checked before anything is
	// sent (an OrderPlaced without a customer, say).
	Validate func(T) error
	// Check is the verdict of the sink that will read the topic on the
	// encoded value: for records already in an API's shape, the sink's
	// schema (config.CheckOf; schemas.DecodeEvent etc.), so that nothing
	// published is dead-lettered as invalid; for domain events, a dry run
	// of the sink's mapping (mapping.Map).
	Check func(value []byte) error
	// Key is the record's key (a customer or user id: a key's records stay
	// in order on one partition); nil publishes without a key.
	Key func(T) string
	// Headers are extra headers of a value's record.
	Headers func(T) []Header
	// CloudEvent, when set, publishes every value as a CloudEvent in the
	// Kafka binding's binary mode: the value is the event's data, its
	// attributes ce_* headers. It gets an event whose id is a new UUID,
	// time now and datacontenttype application/json, and sets at least
	// the type and source (and, say, the subject, or an id of the value's
	// own for consumers that de-duplicate by it). The event must be valid
	// for the CloudEvents SDK.
	CloudEvent func(v T, e *event.Event)
	// Timeout bounds a Publish whose ctx has no deadline (default 30s): a
	// broker that does not acknowledge in time is an error, never a value
	// silently dropped.
	Timeout time.Duration
	// Compression and Acks as ProducerConfig's (Acks "all" by default).
	Compression string
	Acks        string
}

// Publisher is the typed counterpart of Subscribe for applications that
// publish domain events: Publish validates every value, encodes it, sets
// its key and headers (CloudEvents binary mode when asked) and returns once
// Kafka acknowledged every record. It is safe for concurrent use.
type Publisher[T any] struct {
	cfg  PublisherConfig[T]
	prod *Producer
}

// InvalidValueError is a value Publish refused before sending anything:
// Index is its place among the values given, Err the rule it breaks (a
// *schemas.ValidationError names each violation with its JSON path). It Is
// ErrRejected: publishing it again cannot succeed.
type InvalidValueError struct {
	Index int
	Err   error
}

func (e *InvalidValueError) Error() string {
	return fmt.Sprintf("value %d not published: %v", e.Index, e.Err)
}
func (e *InvalidValueError) Unwrap() error        { return e.Err }
func (e *InvalidValueError) Is(target error) bool { return target == ErrRejected }

// NewPublisher builds a Publisher; it connects lazily.
func NewPublisher[T any](cfg PublisherConfig[T]) (*Publisher[T], error) {
	if cfg.Topic == "" {
		return nil, errors.New("publisher: topic: must be set")
	}
	if cfg.Encode == nil {
		cfg.Encode = func(v T) ([]byte, error) { return json.Marshal(v) }
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	prod, err := NewProducer(ProducerConfig{Brokers: cfg.Brokers, Security: cfg.Security, Topic: cfg.Topic,
		Compression: cfg.Compression, Acks: cfg.Acks, Linger: time.Millisecond})
	if err != nil {
		return nil, fmt.Errorf("publisher %s: %w", cfg.Topic, err)
	}
	return &Publisher[T]{cfg: cfg, prod: prod}, nil
}

// Publish sends values as one batch and returns when Kafka acknowledged
// every record. Every value is validated first (Validate, then Check on its
// encoding, then the CloudEvent): if any is refused, nothing is sent and
// the error is an *InvalidValueError naming it. An error from Kafka (the
// brokers unreachable until ctx or the Timeout ends) means some records
// may not have been written: publish them again (consumers see
// at-least-once).
func (p *Publisher[T]) Publish(ctx context.Context, values ...T) error {
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		m, err := p.message(v)
		if err != nil {
			return &InvalidValueError{Index: i, Err: err}
		}
		msgs[i] = m
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
	}
	if err := p.prod.Produce(ctx, msgs...); err != nil {
		return fmt.Errorf("publish to %s: %w", p.cfg.Topic, err)
	}
	return nil
}

// message is v's record, or why v must not be published.
func (p *Publisher[T]) message(v T) (kafka.Message, error) {
	var m kafka.Message
	if p.cfg.Validate != nil {
		if err := p.cfg.Validate(v); err != nil {
			return m, err
		}
	}
	value, err := p.cfg.Encode(v)
	if err != nil {
		return m, fmt.Errorf("encode: %w", err)
	}
	if p.cfg.Check != nil {
		if err := p.cfg.Check(value); err != nil {
			return m, err
		}
	}
	m.Value = value
	if p.cfg.Key != nil {
		if k := p.cfg.Key(v); k != "" {
			m.Key = []byte(k)
		}
	}
	var hs []Header
	if p.cfg.CloudEvent != nil {
		e := event.New()
		e.SetID(uuid.NewString())
		e.SetTime(time.Now())
		e.SetDataContentType(event.ApplicationJSON)
		p.cfg.CloudEvent(v, &e)
		if err := e.Validate(); err != nil {
			return m, cloudEventError("binary mode", err)
		}
		hs = CloudEventHeaders(&e)
	}
	if p.cfg.Headers != nil {
		hs = append(hs, p.cfg.Headers(v)...)
	}
	for _, h := range hs {
		m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return m, nil
}

// Close flushes and closes the Publisher. It is safe to call twice.
func (p *Publisher[T]) Close() error { return p.prod.Close() }
