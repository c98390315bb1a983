package contacthub_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

func TestScratch(t *testing.T) {
	cfg := sandbox.DefaultConfig()
	sb, err := sandbox.Start("127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	sb.Contacthub.AppendUpdates(100000)
	c := contacthub.NewClient(config.Contacthub{BaseURL: sb.ContacthubURL(), WorkspaceID: sandbox.WorkspaceID, Token: config.NewSecret(sandbox.ContacthubToken), Headroom: 1, Timeout: 10 * time.Second, Paths: config.ContacthubPaths{Updates: "/workspaces/{workspaceId}/updates"}}, nil)
	_ = c
	t0 := time.Now()
	var pages []*schemas.StreamPage
	var off int64
	var size int
	for {
		p, err := c.Updates(context.Background(), contacthub.UpdatesQuery{Offset: off, Size: 4000})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Updates) == 0 {
			break
		}
		off = p.NextOffset
		pages = append(pages, p)
	}
	t.Logf("fetch+decode %d pages: %v", len(pages), time.Since(t0))
	for _, p := range pages {
		for _, u := range p.Updates {
			size += len(u.Entity.Data)
		}
	}
	t.Logf("avg data %d", size/100100)
	b, _ := json.Marshal(pages[3])
	t0 = time.Now()
	for range 10 {
		var p schemas.StreamPage
		json.Unmarshal(b, &p)
	}
	t.Logf("unmarshal page %d bytes: %v", len(b), time.Since(t0)/10)
	t0 = time.Now()
	for range 10 {
		json.Valid(b)
	}
	t.Logf("valid page: %v", time.Since(t0)/10)

	addr := streamstest.Broker(t, 4, "raw")
	prod, _ := streams.NewProducer(streams.ProducerConfig{Brokers: []string{addr}})
	msgs := make([]kafka.Message, 4000)
	for i := range msgs {
		msgs[i] = kafka.Message{Topic: "raw", Key: []byte(pages[0].Updates[i].Entity.Data[7:43]), Value: make([]byte, 900)}
	}
	prod.Produce(context.Background(), msgs[:10]...)
	t0 = time.Now()
	for range 25 {
		ms := append([]kafka.Message(nil), msgs...)
		if err := prod.Produce(context.Background(), ms...); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("raw: %.0f/s", 100000/time.Since(t0).Seconds())
}
