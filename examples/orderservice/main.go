// Command orderservice is an example application: a shop's order service
// that publishes an OrderPlaced domain event, as a CloudEvent, for every
// order it takes. It knows nothing of Contacthub or UPS: the connector's
// mappings (examples/orders) turn its events into their API calls.
//
//	go run ./examples/orderservice -brokers 127.0.0.1:9092 -orders 100
//
// It publishes with streams.Publisher: an order that breaks the shop's own
// rules (OrderPlaced.Validate) is refused before anything is sent, and
// Publish returns only once Kafka acknowledged the event, so the service
// can confirm the order knowing its event is not lost.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/contactlab/connector/examples/orders"
	"github.com/contactlab/connector/streams"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka brokers, comma-separated")
	topic := flag.String("topic", "shop.orders", "the topic of the shop's order events")
	n := flag.Int("orders", 100, "orders to place")
	every := flag.Duration("every", 10*time.Millisecond, "time between two orders")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	placed, err := run(ctx, strings.Split(*brokers, ","), *topic, *n, *every)
	fmt.Printf("%d orders placed\n", placed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "orderservice:", err)
		os.Exit(1)
	}
}

// newPublisher is how the shop publishes OrderPlaced: validated by its own
// rules, keyed by customer, as a binary-mode CloudEvent whose id is the
// order's (a consumer de-duplicates redeliveries by it).
func newPublisher(brokers []string, topic string) (*streams.Publisher[orders.OrderPlaced], error) {
	return streams.NewPublisher(streams.PublisherConfig[orders.OrderPlaced]{
		Brokers:  brokers,
		Topic:    topic,
		Validate: orders.OrderPlaced.Validate,
		Key:      orders.OrderPlaced.Key,
		CloudEvent: func(o orders.OrderPlaced, e *event.Event) {
			e.SetID("order-" + o.OrderID)
			e.SetType(orders.EventType)
			e.SetSource(orders.Source)
			e.SetSubject(o.Customer.ExternalID)
			e.SetTime(o.PlacedAt)
		},
	})
}

// run places n orders, one every interval, and returns how many Kafka
// acknowledged. An order the shop's rules refuse is reported and skipped;
// a broker that does not acknowledge stops the run with its error.
func run(ctx context.Context, brokers []string, topic string, n int, every time.Duration) (int, error) {
	p, err := newPublisher(brokers, topic)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	g := orders.NewTraffic(uint64(time.Now().UnixNano()), 500)
	g.TestShare = 0
	g.Start = time.Now().UTC().Truncate(time.Second)
	placed := 0
	tick := time.NewTicker(max(every, time.Millisecond))
	defer tick.Stop()
	for range n {
		o, _ := g.Order()
		err := p.Publish(ctx, o)
		var invalid *streams.InvalidValueError
		switch {
		case errors.As(err, &invalid):
			fmt.Fprintf(os.Stderr, "order %s refused: %v\n", o.OrderID, invalid.Err)
		case err != nil:
			return placed, err
		default:
			placed++
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return placed, nil
		}
	}
	return placed, nil
}
