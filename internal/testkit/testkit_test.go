package testkit

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestJSONEqual(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":[1,2]}`, `{ "b": [1, 2], "a": 1.0 }`, true},
		{`{"a":1}`, `{"a":2}`, false},
		{`[1,2]`, `[2,1]`, false},
		{`null`, `null`, true},
		{`{`, `{`, true},   // invalid on both sides: compared as bytes
		{`{`, `{}`, false}, // one invalid
	} {
		if got := JSONEqual([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("JSONEqual(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

func TestWaitForReturnsOnceTrue(t *testing.T) {
	var n atomic.Int32
	WaitFor(t, time.Second, "three polls", Until(func() bool { return n.Add(1) >= 3 }))
	if n.Load() != 3 {
		t.Fatalf("polled %d times", n.Load())
	}
}

func TestClockMovesOnlyWhenAdvanced(t *testing.T) {
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	c := NewClock(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %v, want the start %v", got, start)
	}
	c.Advance(time.Minute)
	if got := c.Now(); !got.Equal(start.Add(time.Minute)) {
		t.Fatalf("Now = %v after a minute, want %v", got, start.Add(time.Minute))
	}
}

func TestGoldenWritesOnUpdateThenCompares(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.golden")
	Golden(t, path, []byte("v1\n"), true) // creates the folder and the file
	Golden(t, path, []byte("v1\n"), false)
	if b, err := os.ReadFile(path); err != nil || string(b) != "v1\n" {
		t.Fatalf("golden file %q, %v; want v1", b, err)
	}
}
