package kafkatest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/contactlab/connector/internal/kafkatest"
	"github.com/contactlab/connector/internal/testkit"
)

func TestMain(m *testing.M) { kafkatest.Main(m) }

// TestPlaintext produces and consumes, through a consumer group, over the
// PLAINTEXT listener of a one-node cluster.
func TestPlaintext(t *testing.T) {
	c := kafkatest.Shared(t)
	topic := c.CreateTopic(t, kafka.TopicConfig{})
	roundTrip(t, c.Bootstrap(), &kafka.Transport{}, &kafka.Dialer{}, topic, kafkatest.GroupID(t))
}

// TestSASLSSL connects over the SASL_SSL listener with each mechanism the
// brokers enable, trusting only the harness's CA, and checks that wrong
// credentials and an untrusted certificate are refused.
func TestSASLSSL(t *testing.T) {
	c := kafkatest.Shared(t)
	if c.External() {
		t.Skip("an external cluster (KAFKA_TEST_BROKERS) has no SASL_SSL listener known to the harness")
	}
	trusted := caConfig(t, c.CAFile())
	users := c.Users()
	scram512 := func(u kafkatest.User) sasl.Mechanism {
		m, err := scram.Mechanism(scram.SHA512, u.Name, u.Password)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	scram256 := func(u kafkatest.User) sasl.Mechanism {
		m, err := scram.Mechanism(scram.SHA256, u.Name, u.Password)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	wrong := func(u kafkatest.User) kafkatest.User { u.Password += "-wrong"; return u }

	tests := []struct {
		name string
		mech sasl.Mechanism
		tls  *tls.Config
		// want is nil for a working connection, else the error the
		// connection must fail with; wantAs is for error types.
		want   error
		wantAs any
	}{
		{name: "SCRAM-SHA-512", mech: scram512(users.SCRAM), tls: trusted},
		{name: "SCRAM-SHA-256", mech: scram256(users.SCRAM), tls: trusted},
		{name: "PLAIN", mech: plain.Mechanism{Username: users.Plain.Name, Password: users.Plain.Password}, tls: trusted},
		{name: "SCRAM-SHA-512 wrong password", mech: scram512(wrong(users.SCRAM)), tls: trusted, want: kafka.SASLAuthenticationFailed},
		{name: "SCRAM-SHA-256 wrong password", mech: scram256(wrong(users.SCRAM)), tls: trusted, want: kafka.SASLAuthenticationFailed},
		{name: "PLAIN wrong password", mech: plain.Mechanism{Username: users.Plain.Name, Password: "wrong"}, tls: trusted, want: kafka.SASLAuthenticationFailed},
		// SCRAM users are not PLAIN users: the mechanisms keep separate books.
		{name: "PLAIN with the SCRAM user", mech: plain.Mechanism{Username: users.SCRAM.Name, Password: users.SCRAM.Password}, tls: trusted, want: kafka.SASLAuthenticationFailed},
		{name: "certificate of an unknown CA", mech: scram512(users.SCRAM), tls: &tls.Config{MinVersion: tls.VersionTLS12}, wantAs: &x509.UnknownAuthorityError{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dialer := &kafka.Dialer{Timeout: 10 * time.Second, TLS: tt.tls, SASLMechanism: tt.mech}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, err := dialer.DialContext(ctx, "tcp", c.SecureBootstrap()[0])
			if err == nil {
				conn.Close()
			}
			switch {
			case tt.want != nil:
				if !errors.Is(err, tt.want) {
					t.Fatalf("dial: got %v, want %v", err, tt.want)
				}
				return
			case tt.wantAs != nil:
				if !errors.As(err, tt.wantAs) {
					t.Fatalf("dial: got %v (%T), want a %T", err, err, tt.wantAs)
				}
				return
			case err != nil:
				t.Fatalf("dial: %v", err)
			}
			topic := c.CreateTopic(t, kafka.TopicConfig{})
			roundTrip(t, c.SecureBootstrap(), &kafka.Transport{TLS: tt.tls, SASL: tt.mech}, dialer, topic, kafkatest.GroupID(t))
		})
	}
}

// TestLeaderFailover kills the leader of a partition replicated to three
// nodes with min.insync.replicas 2: writes with acks=all still succeed on
// the two left, the node comes back with its data and rejoins the ISR,
// and a graceful stop of another node is survived the same way.
func TestLeaderFailover(t *testing.T) {
	c := kafkatest.SharedWith(t, kafkatest.Options{Brokers: 3})
	if c.External() {
		t.Skip("an external cluster (KAFKA_TEST_BROKERS) cannot be killed by the harness")
	}
	topic := c.CreateTopic(t, kafka.TopicConfig{
		ReplicationFactor: 3,
		ConfigEntries:     []kafka.ConfigEntry{{ConfigName: "min.insync.replicas", ConfigValue: "2"}},
	})
	waitISR(t, c, topic, 3)
	w := &kafka.Writer{
		Addr:         kafka.TCP(c.Bootstrap()...),
		Topic:        topic,
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond,
		MaxAttempts:  20,
		Transport:    &kafka.Transport{MetadataTTL: time.Second},
	}
	defer w.Close()
	var sent []string
	produce := func(stage string, n int) {
		t.Helper()
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			v := fmt.Sprintf("%s-%d", stage, i)
			msgs[i] = kafka.Message{Value: []byte(v)}
			sent = append(sent, v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("produce %s with acks=all: %v", stage, err)
		}
	}
	produce("before", 10)

	old, err := c.LeaderOf(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(old); err != nil {
		t.Fatal(err)
	}
	newLeader := waitNewLeader(t, c, topic, old)
	produce("leader-killed", 10)
	led, err := c.PartitionsLedBy(newLeader)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(led, func(s kafkatest.PartitionState) bool { return s.Topic == topic && s.Partition == 0 }) {
		t.Fatalf("PartitionsLedBy(%d) = %v, want it to hold %s/0", newLeader, led, topic)
	}

	if err := c.Restart(old); err != nil {
		t.Fatal(err)
	}
	waitISR(t, c, topic, 3)

	// A graceful stop hands leadership over before the node goes.
	follower := 1
	for follower == newLeader {
		follower++
	}
	if err := c.Stop(follower); err != nil {
		t.Fatal(err)
	}
	produce("follower-stopped", 10)
	if err := c.Restart(follower); err != nil {
		t.Fatal(err)
	}
	waitISR(t, c, topic, 3)

	if got := consume(t, c.Bootstrap(), topic, len(sent)); !slices.Equal(got, sent) {
		t.Fatalf("consumed %v, want %v", got, sent)
	}
}

// TestFastCompaction checks that a cluster with FastCompaction compacts
// a topic within seconds: only the latest value of each key is left.
func TestFastCompaction(t *testing.T) {
	c := kafkatest.SharedWith(t, kafkatest.Options{FastCompaction: true})
	if c.External() {
		t.Skip("an external cluster (KAFKA_TEST_BROKERS) has its own log cleaner settings")
	}
	topic := c.CreateTopic(t, kafka.TopicConfig{
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
	})
	w := &kafka.Writer{Addr: kafka.TCP(c.Bootstrap()...), Topic: topic, BatchTimeout: 10 * time.Millisecond}
	defer w.Close()
	write := func(kv ...string) {
		t.Helper()
		var msgs []kafka.Message
		for i := 0; i < len(kv); i += 2 {
			msgs = append(msgs, kafka.Message{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
		}
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			t.Fatal(err)
		}
	}
	write("a", "1", "b", "1", "a", "2", "b", "2", "a", "3")
	want := []string{"b=2", "a=3", "end=1"}
	var got []string
	testkit.WaitFor(t, 60*time.Second, "the topic compacted to "+fmt.Sprint(want), func() (bool, string) {
		// The active segment is never cleaned: a write after log.roll.ms
		// (1s) rolls it, and the cleaner takes the one before.
		write("end", "1")
		got = readUntilKey(t, c.Bootstrap(), topic, "end")
		return slices.Equal(got, want), fmt.Sprint(got)
	})
}

// readUntilKey reads the topic's partition 0 from the start until the
// first record with key last, and returns the records as key=value.
func readUntilKey(t *testing.T, brokers []string, topic, last string) []string {
	t.Helper()
	return readFromStart(t, brokers, topic, 30*time.Second, func(got []string, m kafka.Message) ([]string, bool) {
		return append(got, string(m.Key)+"="+string(m.Value)), string(m.Key) != last
	})
}

// readFromStart reads the topic's partition 0 from the start within
// timeout, handing each record to take, which adds what it makes of it to
// got and says whether to read on; a failed read fails the test, saying
// what was read.
func readFromStart(t *testing.T, brokers []string, topic string, timeout time.Duration, take func(got []string, m kafka.Message) ([]string, bool)) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var got []string
	for more := true; more; {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s after %v: %v", topic, got, err)
		}
		got, more = take(got, m)
	}
	return got
}

// roundTrip writes ten messages with acks=all and reads them back through
// a consumer group.
func roundTrip(t *testing.T, brokers []string, transport *kafka.Transport, dialer *kafka.Dialer, topic, group string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 10 * time.Millisecond,
		Transport:    transport,
	}
	defer w.Close()
	var want []string
	var msgs []kafka.Message
	for i := range 10 {
		v := fmt.Sprintf("value-%d", i)
		want = append(want, v)
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint(i)), Value: []byte(v)})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     brokers,
		Topic:       topic,
		GroupID:     group,
		Dialer:      dialer,
		StartOffset: kafka.FirstOffset,
		MaxWait:     100 * time.Millisecond,
	})
	defer r.Close()
	var got []string
	for len(got) < len(want) {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("consume after %d of %d: %v", len(got), len(want), err)
		}
		got = append(got, string(m.Value))
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("consumed %v, want %v", got, want)
	}
}

// consume reads n values of partition 0 from the start.
func consume(t *testing.T, brokers []string, topic string, n int) []string {
	t.Helper()
	if n == 0 {
		return nil
	}
	return readFromStart(t, brokers, topic, 60*time.Second, func(got []string, m kafka.Message) ([]string, bool) {
		got = append(got, string(m.Value))
		return got, len(got) < n
	})
}

func waitISR(t *testing.T, c *kafkatest.Cluster, topic string, n int) {
	t.Helper()
	testkit.WaitFor(t, 60*time.Second, fmt.Sprintf("%s/0 to have %d in sync replicas", topic, n), func() (bool, string) {
		s, err := c.Partition(topic, 0)
		return err == nil && len(s.ISR) == n, fmt.Sprintf("%+v %v", s, err)
	})
}

func waitNewLeader(t *testing.T, c *kafkatest.Cluster, topic string, old int) int {
	t.Helper()
	var leader int
	testkit.WaitFor(t, 60*time.Second, fmt.Sprintf("%s/0 to get a leader other than node %d", topic, old), func() (bool, string) {
		s, err := c.Partition(topic, 0)
		leader = s.Leader
		return err == nil && s.Leader > 0 && s.Leader != old && !slices.Contains(s.ISR, old), fmt.Sprintf("%+v %v", s, err)
	})
	return leader
}

func caConfig(t *testing.T, caFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
