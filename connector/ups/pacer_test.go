package ups

import (
	"context"
	"testing"
	"time"

	"github.com/contactlab/connector/internal/testkit"
)

func newTestPacer(ceiling float64, burst int) (*Pacer, *testkit.Clock) {
	clock := testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := NewPacer(ceiling, burst, 1000)
	p.now = clock.Now
	p.lastGrow = clock.Now()
	return p, clock
}

func TestPacerAIMD(t *testing.T) {
	p, clock := newTestPacer(1000, 1000)
	p.Throttled(2 * time.Second)
	if p.Pace() != 800 {
		t.Fatalf("pace after a 429: %.0f, want 800", p.Pace())
	}
	// A volley of 429s answering requests sent together is one signal.
	clock.Advance(100 * time.Millisecond)
	p.Throttled(time.Second)
	if p.Pace() != 800 || p.Cuts() != 1 {
		t.Fatalf("pace %.0f after a second 429 within the window; cuts %d", p.Pace(), p.Cuts())
	}
	// The pause runs until the longest Retry-After; no growth meanwhile.
	if wait := p.grow(clock.Now()); wait != 1900*time.Millisecond {
		t.Fatalf("pause left %s, want 1.9s", wait)
	}
	clock.Advance(1900 * time.Millisecond)
	if wait := p.grow(clock.Now()); wait != 0 {
		t.Fatalf("still paused: %s", wait)
	}
	// Additive increase: 2% of the ceiling per second.
	clock.Advance(5 * time.Second)
	p.grow(clock.Now())
	if p.Pace() < 899 || p.Pace() > 901 {
		t.Fatalf("pace 5 s after the pause: %.1f, want 900", p.Pace())
	}
	clock.Advance(time.Minute)
	p.grow(clock.Now())
	if p.Pace() != 1000 {
		t.Fatalf("pace does not return to the ceiling: %.1f", p.Pace())
	}
	// Cuts never go below a twentieth of the ceiling.
	for range 50 {
		clock.Advance(2 * time.Second)
		p.Throttled(time.Millisecond)
	}
	if p.Pace() != 50 {
		t.Fatalf("floor: %.1f", p.Pace())
	}
}

func TestPacerWaitsForAFullRequest(t *testing.T) {
	// The real clock: WaitFor sleeps. 10 000 records/s, a bucket of 1000.
	p := NewPacer(10000, 1000, 1000)
	ctx := context.Background()
	release, err := p.Turn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if n, err := p.WaitFor(ctx, 1000); err != nil || n != 1000 {
		t.Fatalf("a full bucket: %d %v", n, err)
	}
	p.Spend(1000)
	start := time.Now()
	if n, err := p.WaitFor(ctx, 500); err != nil || n < 500 {
		t.Fatalf("after spending: %d %v", n, err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("500 records at 10 000/s came after %s, want about 50 ms", d)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	p.Spend(1000)
	if _, err := p.WaitFor(cctx, 1000); err == nil {
		t.Fatal("WaitFor ignored its context")
	}
}

func TestPacerOwesSlowAnswers(t *testing.T) {
	p, clock := newTestPacer(1000, 1000)
	if p.MaxRequest() != 950 {
		t.Fatalf("max request %d, want 95%% of the bucket", p.MaxRequest())
	}
	tokens := func() float64 { return p.lim.TokensAt(clock.Now()) }
	full := tokens()
	// The first answer has nothing to compare with: it counts whole.
	p.Answered(10 * time.Millisecond)
	if got := full - tokens(); got < 9.9 || got > 10.1 {
		t.Fatalf("first answer of 10 ms cost %.1f records, want 10", got)
	}
	// A quicker answer owes nothing; a slower one owes what it took beyond
	// the quickest recent answer.
	before := tokens()
	p.Answered(5 * time.Millisecond)
	if tokens() != before {
		t.Fatalf("a quick answer cost %.1f", before-tokens())
	}
	p.Answered(30 * time.Millisecond)
	if got := before - tokens(); got < 24.9 || got > 25.1 {
		t.Fatalf("an answer 25 ms slower than the quickest cost %.1f records, want 25", got)
	}
}

// With a pace far above the request size (limits lifted), a request is its
// own size, not a share of the bucket, and slow answers owe nothing: the
// bucket never runs into a debt that stalls every sink.
func TestPacerUnlimitedNeverOwesTheBucket(t *testing.T) {
	p, clock := newTestPacer(1e8, 1e8)
	if got := p.MaxRequest(); got != 1000 {
		t.Fatalf("MaxRequest %d, want the request size 1000", got)
	}
	for i := range 100 {
		p.Spend(p.MaxRequest())
		p.Answered(time.Duration(i) * 10 * time.Millisecond)
	}
	if tokens := p.lim.TokensAt(clock.Now()); tokens < 1e8-1e6 {
		t.Fatalf("the bucket holds %.0f after 100 requests: debts built up", tokens)
	}
}
