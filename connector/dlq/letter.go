package dlq

import (
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/streams"
)

// Letter is one dead letter as read back from its topic: the original
// record and what the dead-letter headers say about it.
type Letter struct {
	// Partition and Offset locate the dead letter in its topic.
	Partition int
	Offset    int64
	Key       []byte
	// Value is nil when the dead letter was written without it (ValueOmitted).
	Value []byte
	// Headers are the original record's, the dlq.* ones left out.
	Headers []kafka.Header

	Reason string // dlq.reason; "unknown" when the header is missing
	Error  string // dlq.error
	// Time is dlq.time, or the record's timestamp when that is missing.
	Time time.Time
	// SourceTopic, SourcePartition and SourceOffset say where the record
	// was read: "" and -1 when the headers are missing.
	SourceTopic     string
	SourcePartition int
	SourceOffset    int64
	// ValueOmitted says why the value was left out ("too_large": the dead
	// letter would not have fitted the broker); "" when it was kept.
	ValueOmitted string
	// ValueSize is the original value's length, when it was left out.
	ValueSize int
}

// dlqHeaderPrefix starts every header the dead-letter writer and Replay add.
const dlqHeaderPrefix = "dlq."

// parseLetter reads m's dead-letter headers.
func parseLetter(m kafka.Message) Letter {
	l := Letter{
		Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value,
		Reason: "unknown", Time: m.Time.UTC(), SourcePartition: -1, SourceOffset: -1,
	}
	for _, h := range m.Headers {
		if !strings.HasPrefix(h.Key, dlqHeaderPrefix) {
			l.Headers = append(l.Headers, h)
			continue
		}
		v := string(h.Value)
		switch h.Key {
		case streams.HeaderDLQReason:
			if v != "" {
				l.Reason = v
			}
		case streams.HeaderDLQError:
			l.Error = v
		case streams.HeaderDLQTime:
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				l.Time = t.UTC()
			}
		case streams.HeaderDLQTopic:
			l.SourceTopic = v
		case streams.HeaderDLQPartition:
			if n, err := strconv.Atoi(v); err == nil {
				l.SourcePartition = n
			}
		case streams.HeaderDLQOffset:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				l.SourceOffset = n
			}
		case streams.HeaderDLQValueOmitted:
			l.ValueOmitted = cmpOr(v, "yes")
		case streams.HeaderDLQValueSize:
			l.ValueSize, _ = strconv.Atoi(v)
		}
	}
	if l.ValueOmitted != "" {
		l.Value = nil
	}
	return l
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Replayable says why the letter cannot be replayed, or "" when it can.
func (l Letter) unreplayable() string {
	switch {
	case l.ValueOmitted != "":
		return "value not kept"
	case l.SourceTopic == "":
		return "no source topic"
	}
	return ""
}

// Error classes: the parts of an error message that differ between two
// failures of one cause (ids, counts, durations, times) are replaced, so
// that Inspect counts causes, not messages.
var (
	reTime     = regexp.MustCompile(`\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?`)
	reUUID     = regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	reHex      = regexp.MustCompile(`\b[0-9a-fA-F]{12,}\b`)
	reDuration = regexp.MustCompile(`\b(\d+(\.\d+)?(ns|µs|us|ms|s|m|h))+\b`)
	reNumber   = regexp.MustCompile(`\b\d+\b`)
)

// maxErrorClass bounds an error class, so that one long list of
// violations does not fill the screen.
const maxErrorClass = 160

// ErrorClass is msg's first line with what varies between failures of one
// cause replaced: times by <time>, UUIDs by <uuid>, hex ids by <hex>,
// durations by <duration>, other numbers standing alone by N (the status
// after "HTTP " is kept), cut to 160 bytes.
func ErrorClass(msg string) string {
	msg, _, _ = strings.Cut(msg, "\n")
	msg = reTime.ReplaceAllString(msg, "<time>")
	msg = reUUID.ReplaceAllString(msg, "<uuid>")
	msg = reHex.ReplaceAllStringFunc(msg, func(s string) string {
		if strings.IndexFunc(s, isHexLetter) < 0 {
			return s // a long number: N below
		}
		return "<hex>"
	})
	msg = reDuration.ReplaceAllString(msg, "<duration>")
	var b strings.Builder
	last := 0
	for _, at := range reNumber.FindAllStringIndex(msg, -1) {
		b.WriteString(msg[last:at[0]])
		if strings.HasSuffix(msg[:at[0]], "HTTP ") {
			b.WriteString(msg[at[0]:at[1]])
		} else {
			b.WriteString("N")
		}
		last = at[1]
	}
	b.WriteString(msg[last:])
	return shorten(b.String(), maxErrorClass)
}

func isHexLetter(r rune) bool { return r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' }

// shorten cuts s to at most n bytes on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
