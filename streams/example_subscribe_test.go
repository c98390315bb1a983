package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/embedded"
)

// Customer is what the example's topic holds.
type Customer struct {
	Name string `json:"name"`
}

func decodeCustomer(b []byte) (*Customer, error) {
	var c Customer
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// An application follows a topic of customer changes: a handler gets each
// change decoded, in order per key, a nil value for a deleted customer, and
// the offset to de-duplicate by; the offset is committed once it returns.
func ExampleSubscribe() {
	broker, err := embedded.Start(embedded.Config{Partitions: 1, Topics: []string{"customers"}})
	if err != nil {
		panic(err)
	}
	defer broker.Close()
	brokers := []string{broker.Addr()}

	p, err := streams.NewProducer(streams.ProducerConfig{Brokers: brokers, Topic: "customers"})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Produce(ctx,
		kafka.Message{Key: []byte("c1"), Value: []byte(`{"name":"Ada"}`)},
		kafka.Message{Key: []byte("c2"), Value: []byte(`{"name":"Grace"}`)},
		kafka.Message{Key: []byte("c1"), Value: nil}, // c1 deleted
	); err != nil {
		panic(err)
	}
	_ = p.Close()

	handled := 0
	err = streams.Subscribe(ctx, streams.SubscribeConfig{Brokers: brokers, GroupID: "example-app", Topics: []string{"customers"}},
		decodeCustomer,
		func(ctx context.Context, ch streams.Change[*Customer]) error {
			if ch.Tombstone {
				fmt.Printf("offset %d: %s deleted\n", ch.Offset, ch.Key)
			} else {
				fmt.Printf("offset %d: %s is %s\n", ch.Offset, ch.Key, ch.Value.Name)
			}
			if handled++; handled == 3 {
				cancel() // Subscribe commits and returns nil
			}
			return nil
		})
	fmt.Println("stopped:", err)
	// Output:
	// offset 0: c1 is Ada
	// offset 1: c2 is Grace
	// offset 2: c1 deleted
	// stopped: <nil>
}
