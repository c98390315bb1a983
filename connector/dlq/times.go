package dlq

import (
	"fmt"
	"time"
)

// ParseTime reads a -since or -until value: an RFC 3339 time
// (2026-11-23T10:00:00Z), a date and time in UTC (2026-11-23T10:00 or
// 2026-11-23 10:00), a date (2026-11-23, midnight UTC), or a duration
// before now (90m, 2h).
func ParseTime(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("time %q: a duration means that long ago, so it must not be negative", s)
		}
		return now.Add(-d).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: give an RFC 3339 time (2026-11-23T10:00:00Z), a UTC date and time (2026-11-23T10:00), a date (2026-11-23) or a duration before now (2h)", s)
}
