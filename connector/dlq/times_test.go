package dlq

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "2026-11-23T10:00:00Z", want: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)},
		{in: "2026-11-23T11:00:00+01:00", want: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)},
		{in: "2026-11-23T10:30", want: time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)},
		{in: "2026-11-23 10:30", want: time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)},
		{in: "2026-11-23", want: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)},
		{in: "90m", want: time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)},
		{in: "-2h", bad: true}, // "two hours from now" is no use for dead letters
		{in: "yesterday", bad: true},
		{in: "", bad: true},
	} {
		got, err := ParseTime(tc.in, now)
		if tc.bad != (err != nil) || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}
