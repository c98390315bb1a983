package contacthub_test

import (
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// N records of M customers through the runtime, a real broker and the
// sandbox, with 5% of the calls failing 5xx: every valid record is
// delivered, each customer's calls reach Contacthub one at a time in the
// order they were produced, invalid records are dead-lettered, and every
// offset is committed.
func TestCustomersPipelineDeliversInOrder(t *testing.T) {
	const customers, records = 40, 1200
	addr := streamstest.Broker(t, 4, "customers", "customers.dlq")
	sb := sandboxtest.Start(t, nil)
	ch := sb.Contacthub
	ch.SetCustomersLatency(time.Millisecond)

	client := contacthub.NewClient(contacthub.SandboxClientOptions(sb), nil)
	sink, err := contacthub.NewCustomersSink(client, contacthub.CustomersOptions{Workers: 8, ReorderWindow: 500 * time.Millisecond, RetryHold: 5 * time.Second},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p, err := streams.NewPipeline(streams.PipelineConfig{
		Name: "customers", Brokers: []string{addr}, Topics: []string{"customers"}, DeadLetterTopic: "customers.dlq",
		Concurrency: 8, MaxInFlight: 400, BatchMaxRecords: 4, BatchLinger: time.Millisecond,
		Retry:          streams.RetryPolicy{InitialInterval: 5 * time.Millisecond, MaxInterval: 50 * time.Millisecond},
		CommitInterval: 20 * time.Millisecond,
		Logger:         slog.New(slog.DiscardHandler),
	}, sink)
	if err != nil {
		t.Fatal(err)
	}
	stop := testkit.Run(t, p.Run)

	// Markers carry the production sequence: records of one key go to one
	// partition in the order produced, so it is their offset order too.
	ext := func(c int) string { return "C-" + strconv.Itoa(c) }
	seq := 0
	msg := func(c int, value string) kafka.Message {
		return kafka.Message{Key: []byte(ext(c)), Value: []byte(value)}
	}
	create := func(c int) string {
		return `{"operation": "create", "customer": {"nodeId": "` + sandbox.NodeID + `", "externalId": "` + ext(c) + `", "extra": "m-` + strconv.Itoa(seq) + `"}}`
	}
	var first []kafka.Message
	for c := range customers {
		first = append(first, msg(c, create(c)))
		seq++
	}
	streamstest.Produce(t, addr, "customers", first...)
	streamstest.WaitFor(t, 30*time.Second, "the customers created", func() (bool, string) {
		return streamstest.CaughtUp(t, addr, "customers", "customers")
	})
	ids := make([]string, customers)
	for c := range customers {
		id, ok := ch.FindCustomer(sandbox.NodeID, ext(c))
		if !ok {
			t.Fatalf("customer %s was not created", ext(c))
		}
		ids[c] = id
	}

	ch.Faults().Set(fault.Settings{ServerErrorShare: 0.05})
	rnd := rand.New(rand.NewPCG(7, 8))
	want := make([]int, customers) // calls each customer must see
	for c := range want {
		want[c] = 1
	}
	var rest []kafka.Message
	invalid := 0
	var c, run int
	for range records {
		if run == 0 {
			c, run = rnd.IntN(customers), 1+rnd.IntN(5)
		}
		run--
		m := strconv.Itoa(seq)
		var v string
		switch k := rnd.IntN(60); {
		case k == 0:
			// Broken upstream: a street over its 500 characters.
			v = `{"operation": "patch", "customerId": "` + ids[c] + `", "customer": {"base": {"address": {"street": "` + strings.Repeat("s", 501) + `"}}}}`
			invalid++
			want[c]--
		case k%3 == 0:
			v = create(c)
		case k%3 == 1:
			v = `{"operation": "patch", "customerId": "` + ids[c] + `", "customer": {"extra": "m-` + m + `", "base": {"firstName": "n` + m + `"}}}`
		default:
			v = `{"operation": "session", "customerId": "` + ids[c] + `", "session": {"value": "s-` + m + `"}}`
		}
		want[c]++
		rest = append(rest, msg(c, v))
		seq++
	}
	streamstest.Produce(t, addr, "customers", rest...)
	streamstest.WaitFor(t, 60*time.Second, "every offset committed", func() (bool, string) {
		ok, state := streamstest.CaughtUp(t, addr, "customers", "customers")
		return ok, state + " " + strconv.FormatInt(p.Counts().Delivered, 10) + " delivered"
	})
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	st := ch.CustomersStats()
	if st.Overlaps != 0 {
		t.Fatalf("the sandbox saw %d calls overlap on one customer", st.Overlaps)
	}
	for c, id := range ids {
		calls := ch.CustomerCalls(id)
		if len(calls) != want[c] {
			t.Errorf("customer %s: %d calls, want %d", ext(c), len(calls), want[c])
		}
		last := -1
		for _, call := range calls {
			_, num, _ := strings.Cut(call.Marker, "-")
			n, err := strconv.Atoi(num)
			if err != nil || n <= last {
				t.Fatalf("customer %s: call %+v after marker %d; calls %+v", ext(c), call, last, calls)
			}
			last = n
		}
	}
	dlq := streamstest.ReadAll(t, addr, "customers.dlq")
	if len(dlq) != invalid {
		t.Fatalf("%d dead letters, want %d", len(dlq), invalid)
	}
	for _, m := range dlq {
		h := streamstest.Headers(m)
		if h[streams.HeaderDLQReason] != "invalid" || !strings.Contains(h[streams.HeaderDLQError], "$.customer.base.address.street") {
			t.Fatalf("dead letter headers %v", h)
		}
	}
	counts := p.Counts()
	if counts.Delivered != int64(customers+records-invalid) || counts.DeadLettered != int64(invalid) || counts.InFlight != 0 {
		t.Fatalf("counts %+v", counts)
	}
	t.Logf("sink %+v; sandbox %+v; retries %d; 5xx injected %d", sink.Stats(), st, counts.Retries, ch.Faults().Counts().ServerErrors)
}
