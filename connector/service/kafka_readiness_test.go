package service_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/internal/kafkatest"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/streams"
)

// A pipeline whose fetches keep failing moves no record, whatever the
// health probe (which does not join the group) sees: it must say so on
// /readyz, with the cause. Real brokers refuse a session shorter than
// group.min.session.timeout.ms (kfake takes any), the first thing a user
// meets when moving from a dev broker to a real cluster.
func TestRefusedSessionTimeoutIsNotReady(t *testing.T) {
	c := kafkatest.Shared(t)
	topic := c.CreateTopic(t, kafka.TopicConfig{})
	p, err := streams.NewPipeline(streams.PipelineConfig{
		Name: "refused", Brokers: c.Bootstrap(), GroupID: kafkatest.GroupID(t), Topics: []string{topic},
		DeadLetterTopic: topic + ".dlq",
		// The harness's brokers accept sessions from 500ms.
		SessionTimeout: 100 * time.Millisecond, HeartbeatInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	}, streams.PerRecord(func(context.Context, *streams.Record) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, p.Run)
	testkit.WaitFor(t, 30*time.Second, "the pipeline not ready, naming the session timeout", func() (bool, string) {
		ok, why := p.Ready()
		return !ok && strings.Contains(why, "Invalid Session Timeout") && strings.Contains(why, "kafka.session_timeout"), why
	})
}
