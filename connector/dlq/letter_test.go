package dlq

import (
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
)

func TestErrorClass(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"retries exhausted: counts and durations vary, the status stays",
			"gave up after 12 attempts over 1m2.5s: contacthub: POST /workspaces/{workspaceId}/events: HTTP 503: service unavailable",
			"gave up after N attempts over <duration>: contacthub: POST /workspaces/{workspaceId}/events: HTTP 503: service unavailable"},
		{"schema violations keep their paths, indices go",
			"event: $.properties.items[3].sku: is required; $.type: is required",
			"event: $.properties.items[N].sku: is required; $.type: is required"},
		{"ids and times go",
			"enablenow: GET /v2/categorization-jobs/3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b: job failed at 2026-11-23T10:15:00.123Z (trace 5f0e3a9b2c7d4e1f)",
			"enablenow: GET /v2/categorization-jobs/<uuid>: job failed at <time> (trace <hex>)"},
		{"digits inside words stay (v2, e1)", "rule e1/retail: v2 refused", "rule e1/retail: v2 refused"},
		{"durations of every unit; a number inside a word stays",
			"timeout after 250ms (budget 1h30m, then 12µs) within 5min",
			"timeout after <duration> (budget <duration>, then <duration>) within 5min"},
		{"times with zones; a date alone is numbers",
			"at 2026-11-23 10:15:00+01:00 for 2026-11-23", "at <time> for N-N-N"},
		{"a hex word without digits is a word", "deadbeefcafebabe failed", "deadbeefcafebabe failed"},
		{"only the first line", "first line\nsecond line", "first line"},
		{"long numbers go", "user 123456789012345 not found", "user N not found"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ErrorClass(tc.in); got != tc.want {
				t.Errorf("ErrorClass(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
	long := ErrorClass(strings.Repeat("é", 200))
	if len(long) > maxErrorClass+len("…") {
		t.Errorf("class of %d bytes, want at most %d", len(long), maxErrorClass)
	}
}

func TestShortBytes(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		n    int
		want string
	}{
		{[]byte("short"), 10, "short"},
		{[]byte("0123456789abc"), 10, "0123456789… (13 bytes)"},
		{[]byte("ééééé"), 5, "éé… (10 bytes)"}, // never half a rune
		{[]byte{0xff, 0xfe, 0, 1, 2, 3}, 4, "fffe… (6 bytes)"},
	} {
		if got := shortBytes(tc.in, tc.n); got != tc.want {
			t.Errorf("shortBytes(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// The dlq.* headers are read and left out of the original ones; a dead
// letter written without its value cannot be replayed.
func TestParseLetter(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC)
	h := func(k, v string) kafka.Header { return kafka.Header{Key: k, Value: []byte(v)} }
	m := kafka.Message{Partition: 2, Offset: 7, Key: []byte("k"), Value: []byte("v"), Time: at.Add(time.Hour), Headers: []kafka.Header{
		h("trace-id", "abc"),
		h(streams.HeaderDLQError, "boom"), h(streams.HeaderDLQReason, "retries_exhausted"),
		h(streams.HeaderDLQTopic, "web.events"), h(streams.HeaderDLQPartition, "3"), h(streams.HeaderDLQOffset, "1234"),
		h(streams.HeaderDLQTime, at.Format(time.RFC3339Nano)), h("dlq.replayed-from", "events.dlq/0@1"),
	}}
	l := parseLetter(m)
	if l.Reason != "retries_exhausted" || l.Error != "boom" || !l.Time.Equal(at) || l.SourceTopic != "web.events" ||
		l.SourcePartition != 3 || l.SourceOffset != 1234 || len(l.Headers) != 1 || l.Headers[0].Key != "trace-id" || l.unreplayable() != "" {
		t.Fatalf("parsed %+v", l)
	}
	m.Headers = append(m.Headers, h(streams.HeaderDLQValueOmitted, "too_large"), h(streams.HeaderDLQValueSize, "2000000"))
	m.Value = nil
	if l := parseLetter(m); l.unreplayable() != "value not kept" || l.ValueSize != 2000000 {
		t.Fatalf("slim dead letter parsed as %+v", l)
	}
	if l := parseLetter(kafka.Message{Time: at}); l.Reason != "unknown" || !l.Time.Equal(at) || l.unreplayable() != "no source topic" {
		t.Fatalf("a record without dlq headers parsed as %+v", l)
	}
}

// Inspect classifies every dead letter it reads.
func BenchmarkErrorClass(b *testing.B) {
	msgs := []string{
		"gave up after 12 attempts over 1m2.5s: contacthub: POST /workspaces/{workspaceId}/events: HTTP 503: service unavailable",
		"event: " + strings.Repeat("$.properties.items[3].sku: is required; ", 200),
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ErrorClass(msgs[i%2])
	}
}
