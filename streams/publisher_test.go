package streams_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/embedded"
	"github.com/contactlab/connector/streams/streamstest"
)

// viewed is a domain event of the tests: a product view.
type viewed struct {
	Customer string `json:"customerId"`
	SKU      string `json:"sku"`
}

func (v viewed) Validate() error {
	if v.SKU == "" {
		return errors.New("sku: is required")
	}
	return nil
}

func viewedPublisher(t *testing.T, broker string, check func([]byte) error) *streams.Publisher[viewed] {
	t.Helper()
	p, err := streams.NewPublisher(streams.PublisherConfig[viewed]{
		Brokers:  []string{broker},
		Topic:    "views",
		Validate: viewed.Validate,
		Check:    check,
		Key:      func(v viewed) string { return v.Customer },
		CloudEvent: func(v viewed, e *event.Event) {
			e.SetType("com.example.shop.product.viewed")
			e.SetSource("/shop/web")
			e.SetSubject(v.Customer)
		},
		Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// Acknowledged values are on the topic with their key and the CloudEvents
// binary-mode headers, and read back as valid events.
func TestPublisherAcknowledgedValuesCarryKeyAndCloudEvent(t *testing.T) {
	broker := streamstest.Broker(t, 2, "views")
	p := viewedPublisher(t, broker, nil)
	if err := p.Publish(context.Background(), viewed{"c-1", "SKU-1"}, viewed{"c-2", "SKU-2"}, viewed{"c-1", "SKU-3"}); err != nil {
		t.Fatal(err)
	}
	msgs := streamstest.ReadAll(t, broker, "views")
	if len(msgs) != 3 {
		t.Fatalf("%d records on the topic, want 3", len(msgs))
	}
	ids := map[string]bool{}
	for _, m := range msgs {
		r := &streams.Record{Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			r.Headers = append(r.Headers, streams.Header{Key: h.Key, Value: h.Value})
		}
		e, err := streams.CloudEventOf(r)
		if err != nil || e == nil {
			t.Fatalf("record %s is not a CloudEvent: %v", m.Value, err)
		}
		if e.Type() != "com.example.shop.product.viewed" || e.Source() != "/shop/web" || e.Subject() != string(m.Key) ||
			e.DataContentType() != "application/json" || e.Time().IsZero() || !strings.HasPrefix(string(m.Value), `{"customerId":"`+string(m.Key)) {
			t.Fatalf("record key %s value %s: event %s", m.Key, m.Value, e)
		}
		ids[e.ID()] = true
	}
	if len(ids) != 3 {
		t.Fatalf("ids %v, want one per record", ids)
	}
}

// A value that breaks the domain rule or the target sink's schema is
// refused before anything is sent, naming the value and the violations.
func TestPublisherRefusesInvalidValues(t *testing.T) {
	broker := streamstest.Broker(t, 1, "views")
	// The sink reading the topic takes Contacthub events: the value must be one.
	asEvent := func(v []byte) error {
		_, err := schemas.DecodeEvent(v)
		return err
	}
	for _, tc := range []struct {
		name   string
		check  func([]byte) error
		values []viewed
		index  int
		says   string
	}{
		{"the domain type's rule", nil, []viewed{{"c-1", "SKU-1"}, {"c-2", ""}}, 1, "sku: is required"},
		{"the target sink's schema, with paths", asEvent, []viewed{{"c-1", "SKU-1"}}, 0, "event: $.context: is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := viewedPublisher(t, broker, tc.check).Publish(context.Background(), tc.values...)
			var ie *streams.InvalidValueError
			if !errors.As(err, &ie) || ie.Index != tc.index || !strings.Contains(err.Error(), tc.says) || !errors.Is(err, streams.ErrRejected) {
				t.Fatalf("got %v, want value %d refused naming %q", err, tc.index, tc.says)
			}
			if tc.check != nil {
				var ve *schemas.ValidationError
				if !errors.As(err, &ve) || len(ve.Violations) == 0 {
					t.Fatalf("%v carries no violations", err)
				}
			}
		})
	}
	if end := streamstest.EndOffsets(t, broker, "views")[0]; end != 0 {
		t.Fatalf("%d records were sent", end)
	}
}

// With the broker down, Publish returns an error once its time is up: a
// value is never dropped silently.
func TestPublisherBrokerDownIsAnError(t *testing.T) {
	b, err := embedded.Start(embedded.Config{Partitions: 1, Topics: []string{"views"}})
	if err != nil {
		t.Fatal(err)
	}
	p := viewedPublisher(t, b.Addr(), nil)
	if err := p.Publish(context.Background(), viewed{"c-1", "SKU-1"}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	err = p.Publish(ctx, viewed{"c-1", "SKU-2"})
	if err == nil || errors.Is(err, streams.ErrRejected) {
		t.Fatalf("publish with the broker down: %v, want an error from Kafka", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("publish took %s to fail", took)
	}
	t.Log(fmt.Sprint(err))
}
