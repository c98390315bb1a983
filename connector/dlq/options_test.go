package dlq

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReplayOptionsValidate(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		o    ReplayOptions
		want string // "" valid
	}{
		{"nothing set", ReplayOptions{}, ""},
		{"a window", ReplayOptions{Since: t0, Until: t0.Add(time.Hour), SkipOlder: true, Rate: 5}, ""},
		{"-all with -reason: which one was meant?", ReplayOptions{All: true, Reasons: []string{"invalid"}}, "exclude each other"},
		{"a window that ends before it begins", ReplayOptions{Since: t0, Until: t0.Add(-time.Second)}, "is before -since"},
		{"-skip-older has nothing to skip without -since", ReplayOptions{SkipOlder: true}, "needs -since"},
		{"a negative rate", ReplayOptions{Rate: -1}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.validate()
			if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("validate: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestChooseReasons(t *testing.T) {
	several := map[string]int{"retries_exhausted": 9, "invalid": 3}
	for _, tc := range []struct {
		name string
		o    ReplayOptions
		held map[string]int
		want []string
		err  error
	}{
		{"the one reason held needs no choice", ReplayOptions{}, map[string]int{"invalid": 3}, []string{"invalid"}, nil},
		{"several need a choice", ReplayOptions{}, several, nil, ErrSeveralReasons},
		{"-all takes every one", ReplayOptions{All: true}, several, []string{"invalid", "retries_exhausted"}, nil},
		{"-reason, repeated, counts once", ReplayOptions{Reasons: []string{"retries_exhausted", "retries_exhausted"}}, several, []string{"retries_exhausted"}, nil},
		{"-reason of a reason not held replays nothing, but is no error", ReplayOptions{Reasons: []string{"too_large"}}, several, []string{"too_large"}, nil},
		{"an empty topic", ReplayOptions{}, map[string]int{}, []string{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.o.chooseReasons(tc.held)
			if !errors.Is(err, tc.err) || !slices.Equal(got, tc.want) {
				t.Fatalf("chooseReasons = %v, %v; want %v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}
