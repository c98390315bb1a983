package dlq

import (
	"cmp"
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
			l.ValueOmitted = cmp.Or(v, "yes")
		case streams.HeaderDLQValueSize:
			l.ValueSize, _ = strconv.Atoi(v)
		}
	}
	if l.ValueOmitted != "" {
		l.Value = nil
	}
	return l
}

// unreplayable says why the letter cannot be replayed, or "" when it can.
func (l Letter) unreplayable() string {
	switch {
	case l.ValueOmitted != "":
		return "value not kept"
	case l.SourceTopic == "":
		return "no source topic"
	}
	return ""
}

// maxErrorClass bounds an error class, so that one long list of
// violations does not fill the screen.
const maxErrorClass = 160

// ErrorClass is msg's first line with what varies between failures of one
// cause replaced, so that Inspect counts causes, not messages: times by
// <time>, UUIDs by <uuid>, hex ids (12 or more hex digits, letters and
// digits both) by <hex>, durations by <duration>, other numbers standing
// alone by N (the status after "HTTP " is kept); cut to 160 bytes.
//
// It is one hand-written pass: Inspect classifies every dead letter, and
// regular expressions with word boundaries cost a hundred times more.
func ErrorClass(msg string) string {
	msg, _, _ = strings.Cut(msg, "\n")
	// Replacing only shortens, and a long list of violations may take
	// 8 kB: what lies past four times the class's length cannot show.
	if len(msg) > 4*maxErrorClass {
		msg = strings.TrimSuffix(shorten(msg, 4*maxErrorClass), "…")
	}
	var b strings.Builder
	b.Grow(len(msg))
	for i := 0; i < len(msg); {
		if !isWord(msg[i]) || i > 0 && isWord(msg[i-1]) {
			b.WriteByte(msg[i])
			i++
			continue
		}
		end := i
		for end < len(msg) && isWord(msg[end]) {
			end++
		}
		word := msg[i:end]
		if n := timeLen(msg[i:]); n > 0 {
			b.WriteString("<time>")
			i += n
			continue
		}
		if n := uuidLen(msg[i:]); n > 0 {
			b.WriteString("<uuid>")
			i += n
			continue
		}
		if n := durationLen(msg[i:]); n > 0 {
			b.WriteString("<duration>")
			i += n
			continue
		}
		switch {
		case allDigits(word) && strings.HasSuffix(msg[:i], "HTTP "):
			b.WriteString(word)
		case allDigits(word):
			b.WriteString("N")
		case len(word) >= 12 && isHexID(word):
			b.WriteString("<hex>")
		default:
			b.WriteString(word)
		}
		i = end
	}
	return shorten(b.String(), maxErrorClass)
}

// isWord is a byte of a word, as \b counts them.
func isWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func allDigits(s string) bool {
	for i := range len(s) {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// isHexID: hex digits only, with both a letter and a digit.
func isHexID(s string) bool {
	letter, digit := false, false
	for i := range len(s) {
		switch {
		case isDigit(s[i]):
			digit = true
		case isHex(s[i]):
			letter = true
		default:
			return false
		}
	}
	return letter && digit
}

// matchShape reports whether s starts with shape, where in shape '9'
// stands for a digit, 'x' for a hex digit, '?' for any byte, and any other
// byte for itself.
func matchShape(s, shape string) bool {
	if len(s) < len(shape) {
		return false
	}
	for i := range len(shape) {
		switch c := shape[i]; c {
		case '9':
			if !isDigit(s[i]) {
				return false
			}
		case 'x':
			if !isHex(s[i]) {
				return false
			}
		case '?':
		default:
			if s[i] != c {
				return false
			}
		}
	}
	return true
}

// ends reports whether s[n:] does not continue a word.
func ends(s string, n int) bool { return n == len(s) || !isWord(s[n]) }

// timeLen is the length of the RFC 3339 time (T or space between date and
// time, fraction and zone optional) s starts with, or 0.
func timeLen(s string) int {
	if !matchShape(s, "9999-99-99?99:99:99") || s[10] != 'T' && s[10] != ' ' {
		return 0
	}
	n := 19
	if n < len(s) && s[n] == '.' && n+1 < len(s) && isDigit(s[n+1]) {
		for n++; n < len(s) && isDigit(s[n]); n++ {
		}
	}
	switch {
	case n < len(s) && s[n] == 'Z':
		n++
	case matchShape(s[n:], "+99:99") || matchShape(s[n:], "-99:99"):
		n += 6
	}
	if !ends(s, n) {
		return 0
	}
	return n
}

// uuidLen is 36 when s starts with a UUID, else 0.
func uuidLen(s string) int {
	if matchShape(s, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx") && ends(s, 36) {
		return 36
	}
	return 0
}

// durationLen is the length of the Go duration (1m2.5s, 250ms) s starts
// with, or 0.
func durationLen(s string) int {
	n := 0
	for {
		d := n
		for d < len(s) && isDigit(s[d]) {
			d++
		}
		if d == n {
			break
		}
		if d+1 < len(s) && s[d] == '.' && isDigit(s[d+1]) {
			for d++; d < len(s) && isDigit(s[d]); d++ {
			}
		}
		u := 0
		for _, unit := range []string{"ns", "µs", "us", "ms", "s", "m", "h"} {
			if strings.HasPrefix(s[d:], unit) {
				u = len(unit)
				break
			}
		}
		if u == 0 {
			break
		}
		n = d + u
	}
	if n == 0 || !ends(s, n) {
		return 0
	}
	return n
}

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
