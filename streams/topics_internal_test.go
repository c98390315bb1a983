package streams

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// EnsureTopics returns only once the topics it created have partition
// leaders; the wait names a topic the metadata does not give one.
func TestEnsureTopicsWaitsForLeaders(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	ctx := context.Background()
	if err := EnsureTopics(ctx, []string{addr}, TopicSpec{Name: "made", Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	cl := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second}
	if err := leadersKnown(ctx, cl, []string{"made"}); err != nil {
		t.Fatalf("after EnsureTopics: %v", err)
	}

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = awaitLeaders(short, cl, []string{"made", "never.made"})
	if err == nil || !strings.Contains(err.Error(), "never.made") {
		t.Fatalf("waiting for a topic that is not there: %v, want an error naming it", err)
	}
}
