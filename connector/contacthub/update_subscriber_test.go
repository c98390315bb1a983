package contacthub

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// What the source publishes, a subscriber reads back: envelopes decoded,
// tombstones as such, the Contacthub offset from its header.
func TestPrintUpdates(t *testing.T) {
	addr := streamstest.Broker(t, 1, "customers", "events")
	page, _ := schemas.DecodeStreamPage([]byte(recordsPage))
	b := newRecordBuilder("customers", "events", testWorkspace, "", true)
	pr := b.build(page, 1, readAt, nil)
	byTopic := map[string][]kafka.Message{}
	for _, m := range pr.msgs {
		byTopic[m.Topic] = append(byTopic[m.Topic], kafka.Message{Key: m.Key, Value: m.Value, Headers: m.Headers})
	}
	for topic, msgs := range byTopic {
		streamstest.Produce(t, addr, topic, msgs...)
	}
	var out strings.Builder
	p := NewUpdatePrinter(&out)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- SubscribeUpdates(ctx, streams.SubscribeConfig{Brokers: []string{addr}, GroupID: "printer", Topics: []string{"customers"}}, p.Handle)
	}()
	streamstest.WaitFor(t, 20*time.Second, "the customers topic printed", func() (bool, string) {
		n := p.Printed()
		return n == 3, fmt.Sprint(n, " printed")
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := "customers/0@0 offset 2 CREATE CUSTOMER c1\n" +
		"customers/0@1 offset 4 DELETE CUSTOMER c1\n" +
		"customers/0@2 offset 4 tombstone c1\n"
	if out.String() != want {
		t.Fatalf("printed\n%s\nwant\n%s", out.String(), want)
	}
}
