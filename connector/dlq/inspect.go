package dlq

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"
)

// Summary is what Inspect found in a dead-letter topic.
type Summary struct {
	Topic      string
	Partitions int
	// Total is how many dead letters the topic held when Inspect began.
	Total int
	// ByReason counts dead letters by dlq.reason.
	ByReason map[string]int
	// ByError counts dead letters by ErrorClass of dlq.error.
	ByError map[string]int
	// ByHour counts dead letters by the hour (UTC) of dlq.time.
	ByHour map[time.Time]int
	// ValueOmitted counts dead letters written without their value (too
	// large for the broker with the dead-letter headers); Replay skips them.
	ValueOmitted int
	// First and Last are the earliest and latest dlq.time.
	First, Last time.Time
	// Samples are a few dead letters, one of each error class first, their
	// key and value shortened (SampleBytes), oldest first.
	Samples []Letter
}

// SampleBytes is how much of a sample's key and value Summary keeps.
const SampleBytes = 120

// Inspect reads the topic from its first offsets to the end offsets it
// has when Inspect begins, and counts. It commits nothing and joins no
// consumer group.
func Inspect(ctx context.Context, t Topic, samples int) (*Summary, error) {
	e, err := t.extent(ctx)
	if err != nil {
		return nil, err
	}
	s := &Summary{Topic: t.Name, Partitions: len(e.partitions), ByReason: map[string]int{}, ByError: map[string]int{}, ByHour: map[time.Time]int{}}
	var spare []Letter // samples of classes already shown, in case there are few classes
	err = t.scan(ctx, e, func(m kafka.Message) error {
		l := parseLetter(m)
		s.Total++
		s.ByReason[l.Reason]++
		class := ErrorClass(l.Error)
		seen := s.ByError[class] > 0
		s.ByError[class]++
		s.ByHour[l.Time.Truncate(time.Hour)]++
		if l.ValueOmitted != "" {
			s.ValueOmitted++
		}
		if s.First.IsZero() || l.Time.Before(s.First) {
			s.First = l.Time
		}
		if l.Time.After(s.Last) {
			s.Last = l.Time
		}
		switch {
		case !seen && len(s.Samples) < samples:
			s.Samples = append(s.Samples, sample(l))
		case len(spare) < samples:
			spare = append(spare, sample(l))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, l := range spare {
		if len(s.Samples) >= samples {
			break
		}
		s.Samples = append(s.Samples, l)
	}
	slices.SortStableFunc(s.Samples, func(a, b Letter) int { return a.Time.Compare(b.Time) })
	return s, nil
}

// sample is l with its key and value shortened, holding no memory of the
// record read.
func sample(l Letter) Letter {
	l.Key = []byte(shortBytes(l.Key, SampleBytes))
	if l.Value != nil {
		l.Value = []byte(shortBytes(l.Value, SampleBytes))
	}
	l.Headers = nil
	l.Error = shorten(l.Error, 4*SampleBytes)
	return l
}

// shortBytes is b cut to n bytes, as text when it is UTF-8, saying how long
// it was when it was cut.
func shortBytes(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	if !utf8.Valid(b) {
		return fmt.Sprintf("%x… (%d bytes)", b[:n/2], len(b))
	}
	return fmt.Sprintf("%s (%d bytes)", shorten(string(b), n), len(b))
}

// Print writes s for a terminal. per is "hour" or "day": how dead letters
// are counted over time; "" takes hours when they span two days at most.
func (s *Summary) Print(w io.Writer, per string) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("%s: %d dead letters in %d partitions", s.Topic, s.Total, s.Partitions)
	if s.Total == 0 {
		p("\n")
		return
	}
	p(", %s .. %s\n", s.First.Format(time.RFC3339), s.Last.Format(time.RFC3339))

	p("\nby reason\n")
	for _, k := range byCount(s.ByReason) {
		p("  %-24s %7d\n", k, s.ByReason[k])
	}
	p("\nby error\n")
	for _, k := range byCount(s.ByError) {
		p("  %7d  %s\n", s.ByError[k], cmp.Or(k, "(no dlq.error)"))
	}

	if per == "" {
		per = "hour"
		if s.Last.Sub(s.First) > 48*time.Hour {
			per = "day"
		}
	}
	buckets, layout := s.ByHour, "2006-01-02 15:04"
	if per == "day" {
		buckets, layout = map[time.Time]int{}, "2006-01-02"
		for h, n := range s.ByHour {
			buckets[time.Date(h.Year(), h.Month(), h.Day(), 0, 0, 0, 0, time.UTC)] += n
		}
	}
	p("\nby %s (dlq.time, UTC)\n", per)
	for _, k := range slices.SortedFunc(maps.Keys(buckets), time.Time.Compare) {
		p("  %-16s %7d\n", k.Format(layout), buckets[k])
	}
	if s.ValueOmitted > 0 {
		p("\nwithout their value (too large for the broker when dead-lettered; replay skips them): %d\n", s.ValueOmitted)
	}

	if len(s.Samples) == 0 {
		return
	}
	p("\nsamples\n")
	for _, l := range s.Samples {
		p("  %s/%d@%d  %s  %s", s.Topic, l.Partition, l.Offset, l.Reason, l.Time.Format(time.RFC3339))
		if l.SourceTopic != "" {
			p("  from %s/%d@%d", l.SourceTopic, l.SourcePartition, l.SourceOffset)
		}
		p("\n    key:   %s\n", strconv.Quote(string(l.Key)))
		p("    error: %s\n", l.Error)
		if l.ValueOmitted != "" {
			p("    value: (left out: %s, %d bytes)\n", l.ValueOmitted, l.ValueSize)
		} else {
			p("    value: %s\n", printable(string(l.Value)))
		}
	}
}

// printable is s, quoted when it holds control characters (a line break
// would break the layout).
func printable(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// byCount is m's keys, most frequent first, then by name.
func byCount(m map[string]int) []string {
	return slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
}
