package contacthub

import (
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/embedded"
	"github.com/contactlab/connector/streams/streamstest"
)

// BenchmarkUpdateStreamSource republishes a fixed 400,000 updates, seeded in
// the sandbox, to the embedded broker in pages of 4,000, and reports:
//   - updates/s: from the first request to the last stored offset;
//   - raw-produce/s: kafka-go alone writing the same records (same keys,
//     values, headers and writer settings) in the same page-sized calls to
//     the same broker, measured around the write calls only;
//   - pct-of-raw: the first as a percentage of the second;
//   - peak-rss-MB and CPU: the whole process (sandbox and broker included).
//
// Targets: at least 50,000 updates/s and 70% of the raw rate. Run it on its
// own: go test -run XXX -bench UpdateStreamSource ./connector/contacthub/
func BenchmarkUpdateStreamSource(b *testing.B) {
	const total, pageSize = 400_000, 4000
	for b.Loop() {
		broker, err := embedded.Start(embedded.Config{Partitions: 4})
		if err != nil {
			b.Fatal(err)
		}
		sbCfg := sandbox.DefaultConfig()
		sbCfg.Contacthub.Seed = 7
		sb, err := sandbox.Start("127.0.0.1:0", sbCfg)
		if err != nil {
			b.Fatal(err)
		}
		sb.Contacthub.AppendUpdates(total - int(sb.Contacthub.LastOffset()))
		client := NewClient(testClientOptions(sb), nil)
		src, err := NewUpdateStreamSource(UpdateStreamSourceConfig{Source: benchSourceOptions(pageSize),
			Kafka: KafkaOptions{Brokers: []string{broker.Addr()}, SessionTimeout: 10 * time.Second, HeartbeatInterval: time.Second, Partitions: 4}, Client: client,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)

		// The raw rate is measured before and after the source, each time on
		// topics deleted afterwards, so that every run meets a broker holding
		// nothing; the better of the two is the reference.
		raw := rawProduceRate(b, broker.Addr(), client, src.Topics(), pageSize)
		ensureTopics(b, broker.Addr(), src.Topics()...)
		meter := streamstest.StartMeter()
		done := make(chan error, 1)
		go func() { done <- src.Run(ctx) }()
		// The rate is the stream's, from the moment the source leads: the
		// election (a group join, once per process) is not part of it.
		streamstest.WaitFor(b, time.Minute, "the source to lead", func() (bool, string) {
			return src.State() == streams.LeaderActive, src.State().String()
		})
		active := time.Now()
		streamstest.WaitFor(b, 2*time.Minute, "every update published", func() (bool, string) {
			p := src.Progress()
			return p.Current >= total, p.String()
		})
		rate := float64(total) / time.Since(active).Seconds()
		meter.Stop(b, total, "updates", 100_000)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		deleteTopics(b, broker.Addr(), src.Topics()...)
		raw = max(raw, rawProduceRate(b, broker.Addr(), client, src.Topics(), pageSize))
		b.ReportMetric(raw, "raw-produce/s")
		b.ReportMetric(100*rate/raw, "pct-of-raw")
		sb.Close()
		broker.Close()
	}
}

func ensureTopics(b *testing.B, broker string, topics ...streams.TopicSpec) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := streams.EnsureTopics(ctx, []string{broker}, topics...); err != nil {
		b.Fatal(err)
	}
}

func deleteTopics(b *testing.B, broker string, topics ...streams.TopicSpec) {
	req := &kafka.DeleteTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, t.Name)
	}
	cl := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second}
	if _, err := cl.DeleteTopics(context.Background(), req); err != nil {
		b.Fatal(err)
	}
}

// rawProduceRate writes the records the source makes of the stream, page by
// page, with a bare kafka.Writer configured as the source's producer, to
// topics made for it and deleted after, and returns updates per second over
// the time spent in WriteMessages. Pages are read and turned into records
// outside the measured time.
func rawProduceRate(b *testing.B, broker string, client *Client, sourceTopics []streams.TopicSpec, pageSize int) float64 {
	var topics []streams.TopicSpec
	for _, t := range sourceTopics[:2] {
		t.Name = "raw." + t.Name
		topics = append(topics, t)
	}
	ensureTopics(b, broker, topics...)
	defer func() {
		deleteTopics(b, broker, topics...)
		runtime.GC()
	}()
	runtime.GC()
	w := &kafka.Writer{
		Addr:         kafka.TCP(broker),
		Balancer:     &kafka.Murmur2Balancer{Consistent: true},
		BatchSize:    1000,
		BatchBytes:   16 << 20,
		BatchTimeout: time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		MaxAttempts:  5,
		Transport:    &kafka.Transport{Dial: (&net.Dialer{Timeout: 5 * time.Second}).DialContext},
	}
	defer w.Close()
	rb := newRecordBuilder(topics[0].Name, topics[1].Name, client.Workspace(), "", true)
	ctx := context.Background()
	q := UpdatesQuery{Offset: 0, Size: pageSize}
	var spent time.Duration
	for {
		page, err := client.Updates(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Updates) == 0 {
			break
		}
		pr := rb.build(page, q.Offset, time.Now(), nil)
		q.Offset = pr.last
		start := time.Now()
		if err := w.WriteMessages(ctx, pr.msgs...); err != nil {
			b.Fatal(err)
		}
		spent += time.Since(start)
	}
	// Updates per second, like the source's rate: the records include the
	// tombstones, as the source's do.
	return float64(q.Offset) / spent.Seconds()
}

// benchSourceOptions are those of a source "bench" with page_size
// pageSize, the rest as the connector's config defaults it (package service).
func benchSourceOptions(pageSize int) SourceOptions {
	return SourceOptions{
		Name:            "bench",
		CustomersTopic:  "contacthub.customers",
		EventsTopic:     "contacthub.events",
		DeadLetterTopic: "bench.dlq",
		OffsetsTopic:    "connector.source-offsets",
		GroupID:         "connector-source-bench",
		Start:           "earliest",
		PageSize:        pageSize,
		MaxPageBytes:    32 << 20,
		PollInterval:    time.Second,
		Tombstones:      true,
		Retry:           RetryOptions{Initial: 200 * time.Millisecond, Max: 30 * time.Second},
	}
}
