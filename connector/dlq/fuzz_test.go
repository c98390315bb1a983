package dlq

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
)

// Any error message makes a class that is short, valid text when the
// message was, and holds no number but an HTTP status.
func FuzzErrorClass(f *testing.F) {
	for _, s := range []string{
		"gave up after 12 attempts over 1m2.5s: contacthub: POST /x: HTTP 503: unavailable",
		"event: $.items[3].sku: is required", "job 3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b at 2026-11-23T10:15:00Z", "", "HTTP 5031 1e10",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		c := ErrorClass(msg)
		if len(c) > maxErrorClass+len("…") {
			t.Fatalf("class of %d bytes", len(c))
		}
		if utf8.ValidString(msg) && !utf8.ValidString(c) {
			t.Fatalf("class %q of valid text is not", c)
		}
		if strings.Contains(c, "\n") {
			t.Fatalf("class %q has a line break", c)
		}
	})
}

// Any headers parse; none of the dlq.* ones is kept among the original
// headers a replay would send.
func FuzzParseLetter(f *testing.F) {
	f.Add(streams.HeaderDLQTime, "2026-11-23T10:00:00Z", streams.HeaderDLQPartition, "x", "trace", "1")
	f.Add(streams.HeaderDLQValueOmitted, "", streams.HeaderDLQOffset, "-5", "dlq.replayed-from", "a/0@1")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		m := kafka.Message{Value: []byte("v"), Time: time.Unix(0, 0), Headers: []kafka.Header{
			{Key: k1, Value: []byte(v1)}, {Key: k2, Value: []byte(v2)}, {Key: k3, Value: []byte(v3)}}}
		l := parseLetter(m)
		for _, h := range l.Headers {
			if strings.HasPrefix(h.Key, "dlq.") {
				t.Fatalf("kept %s", h.Key)
			}
		}
		if l.ValueOmitted != "" && (l.Value != nil || l.unreplayable() == "") {
			t.Fatalf("a dead letter without its value is replayable: %+v", l)
		}
	})
}

// ParseTime never panics and gives UTC.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-23T10:00:00Z", "2h", "2026-11-23", "-1s", "9999999999h"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if got, err := ParseTime(s, now); err == nil && got.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) = %v, not UTC", s, got)
		}
	})
}
