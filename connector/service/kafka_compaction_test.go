package service_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/internal/kafkatest"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/streams/streamstest"
)

// The source's offsets topic and customers topic are compacted (the
// README says so, and TopicSpec.Compacted asks for it): on a broker whose
// cleaner really runs, within seconds, the offsets topic keeps little more
// than the last offset stored, the customers topic little more than each
// customer's last change, and a restarted source resumes from the stored
// offset, reading only what came after it.
func TestSourceResumesFromCompactedOffsets(t *testing.T) {
	c := kafkatest.SharedWith(t, kafkatest.Options{FastCompaction: true})
	if c.External() {
		t.Skip("an external cluster (KAFKA_TEST_BROKERS) has its own log cleaner settings")
	}
	kb := newTestKafka(t, kindKafka)
	kb.addr = c.Bootstrap()[0]
	sb := sandboxtest.Start(t, nil) // 100 customers, changed over and over
	sb.Contacthub.AppendUpdates(10_000)
	cfg := sourceConfig(t, kb, sb, 250) // an offset stored every 250 updates
	sc := cfg.Sources[0].Settings.(*service.UpdatesSourceConfig)

	svc, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := runService(t, svc)
	first := svc.Units()[0].(*contacthub.UpdateStreamSource)
	caughtUpTo(t, first, sb.Contacthub.LastOffset(), 60*time.Second)

	for topic, want := range map[string]string{sc.OffsetsTopic: "compact", sc.CustomersTopic: "compact", sc.EventsTopic: "delete"} {
		if got, err := c.TopicConfig(topic, "cleanup.policy"); err != nil || got != want {
			t.Fatalf("%s: cleanup.policy %q (%v), want %q", topic, got, err, want)
		}
	}

	// The cleaner takes only segments rolled (every second here), so the
	// stream goes on until it has compacted both topics.
	testkit.WaitFor(t, 90*time.Second, "the broker to compact the offsets and customers topics", func() (bool, string) {
		sb.Contacthub.AppendUpdates(250)
		kept, written := records(t, kb.addr, sc.OffsetsTopic)
		keptC, writtenC := records(t, kb.addr, sc.CustomersTopic)
		return kept < written/2 && keptC < writtenC, fmt.Sprintf("offsets: %d of %d records kept; customers: %d of %d", kept, written, keptC, writtenC)
	})
	caughtUpTo(t, first, sb.Contacthub.LastOffset(), 60*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	stored := storedOffset(t, cfg)
	if stored != sb.Contacthub.LastOffset() {
		t.Fatalf("stored offset %d after a graceful stop, want the last one published, %d", stored, sb.Contacthub.LastOffset())
	}

	// The restart reads the offset back from the compacted topic and goes
	// on from there: it reads exactly the updates that came after it.
	sb.Contacthub.AppendUpdates(3000)
	total := sb.Contacthub.LastOffset()
	svc2 := startService(t, cfg)
	second := svc2.Units()[0].(*contacthub.UpdateStreamSource)
	caughtUpTo(t, second, total, 60*time.Second)
	if got, want := second.Counts().Consumed, total-stored; got != want {
		t.Fatalf("the restarted source read %d updates, want the %d after the stored offset %d", got, want, stored)
	}
	kept, written := records(t, kb.addr, sc.OffsetsTopic)
	t.Logf("resumed from %d to %d; offsets topic keeps %d of %d records", stored, total, kept, written)
}

// records returns how many records topic keeps and how many were written
// to it (the sum of its end offsets).
func records(t *testing.T, addr, topic string) (kept, written int) {
	t.Helper()
	for _, end := range streamstest.EndOffsets(t, addr, topic) {
		written += int(end)
	}
	return len(readTopic(t, addr, topic)), written
}
