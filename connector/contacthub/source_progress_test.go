package contacthub

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func TestProgressFigures(t *testing.T) {
	m, err := NewSourceMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := m.forSource("s")
	p := newProgressTracker(g)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.begin(1000, t0)
	p.observeLast(11000)
	for i := 1; i <= 4; i++ {
		p.advance(1000+int64(i)*1000, t0.Add(time.Duration(i)*time.Second))
	}
	got := p.snapshot(t0.Add(4 * time.Second))
	want := Progress{Current: 5000, Last: 11000, Rate: 1000, Percent: 40, ETA: 6 * time.Second}
	if got != want {
		t.Fatalf("progress %+v, want %+v", got, want)
	}
	if s := got.String(); s != " 40.0% 5000/11000 1000/s 6s left" {
		t.Fatalf("String %q", s)
	}
	if c, l, lag := gaugeValue(t, g.current), gaugeValue(t, g.last), gaugeValue(t, g.lag); c != 5000 || l != 11000 || lag != 6000 {
		t.Fatalf("gauges current %v last %v lag %v", c, l, lag)
	}
	// The rate looks rateWindow back: old samples drop out.
	p.advance(6000, t0.Add(20*time.Second))
	if r := p.snapshot(t0.Add(20 * time.Second)).Rate; r > 200 {
		t.Fatalf("rate %v after a 16s pause still counts the old pace", r)
	}
	// Caught up: 100%, nothing left.
	p.advance(11000, t0.Add(21*time.Second))
	if s := p.snapshot(t0.Add(21 * time.Second)); s.Percent != 100 || s.ETA != 0 || s.Lag() != 0 {
		t.Fatalf("caught up: %+v", s)
	}
}

func TestProgressLogLines(t *testing.T) {
	m, _ := NewSourceMetrics(nil)
	p := newProgressTracker(m.forSource("s"))
	t0 := time.Now()
	step := func(d time.Duration, full bool) (bool, bool) { return p.logDue(t0.Add(d), 5*time.Second, full) }
	for _, tc := range []struct {
		at                   time.Duration
		full                 bool
		catchingUp, caughtUp bool
	}{
		{0, false, false, false},          // idle: nothing to say
		{time.Second, true, false, false}, // behind: the first line waits an interval
		{3 * time.Second, true, false, false},
		{6 * time.Second, true, true, false}, // every 5s while behind
		{7 * time.Second, true, false, false},
		{8 * time.Second, false, false, true}, // a short page: caught up, once
		{9 * time.Second, false, false, false},
	} {
		if c, u := step(tc.at, tc.full); c != tc.catchingUp || u != tc.caughtUp {
			t.Fatalf("at %v (full %v): catching up %v, caught up %v", tc.at, tc.full, c, u)
		}
	}
}

// Every source of a process asks for the metrics; the second gets the
// collectors the first registered.
func TestSourceMetricsSharedByRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewSourceMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSourceMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	a.forSource("one").current.Set(7)
	b.forSource("two").current.Set(9)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		if f.GetName() == "connector_source_current_offset" {
			n = len(f.GetMetric())
		}
	}
	if n != 2 {
		t.Fatalf("%d series of connector_source_current_offset, want 2", n)
	}
}
