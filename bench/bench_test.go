package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/examples/orders"
)

// The configs the harness writes are ones the connector accepts.
func TestConnectorConfigsParse(t *testing.T) {
	c := &cluster{brokerAddr: "127.0.0.1:9092", sandboxURL: "http://127.0.0.1:8080"}
	for name, doc := range map[string]string{
		"events":   eventsConfig(c, 0, ""),
		"events16": eventsConfig(c, 16, ""),
		"mapped":   eventsConfig(c, 0, "    mapping: |\n"+indent(orders.CompletedOrderMapping, "      ")),
		"ups":      upsConfig(c),
	} {
		if _, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false }); err != nil {
			t.Errorf("%s: %v\n%s", name, err, doc)
		}
	}
}

func TestParseBench(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkUPSAtRateLimit-2   	       1	70176623323 ns/op	       997.4 delivered/s	         0 429-pct	        95.00 fill-pct
--- BENCH: BenchmarkUPSAtRateLimit-2
    ups_bench_test.go:85: window 60s
BenchmarkEventsThrottled 1 2 ns/op 98 pct-of-limit
PASS
`)
	got := parseBench(out)
	for _, tc := range []struct {
		bench, unit string
		want        float64
	}{
		{"BenchmarkUPSAtRateLimit", "delivered/s", 997.4},
		{"BenchmarkUPSAtRateLimit", "429-pct", 0},
		{"BenchmarkUPSAtRateLimit", "fill-pct", 95},
		{"BenchmarkEventsThrottled", "pct-of-limit", 98}, // no -GOMAXPROCS suffix
	} {
		if v, ok := got[tc.bench][tc.unit]; !ok || v != tc.want {
			t.Errorf("%s %s = %v (%v), want %v", tc.bench, tc.unit, v, ok, tc.want)
		}
	}
	if len(got) != 2 {
		t.Errorf("parsed %d benchmarks, want 2: %v", len(got), got)
	}
}

func TestRowMet(t *testing.T) {
	for _, tc := range []struct {
		row  Row
		want bool
	}{
		{Row{Value: 8000, Measured: true, Op: ">=", Target: 8000}, true},
		{Row{Value: 7999, Measured: true, Op: ">=", Target: 8000}, false},
		{Row{Value: 40, Measured: true, Op: "<=", Target: 40}, true},
		{Row{Value: 41, Measured: true, Op: "<=", Target: 40}, false},
		{Row{Value: 1, Measured: true}, false},                             // no target
		{Row{Value: 9000, Measured: false, Op: ">=", Target: 8000}, false}, // not run
	} {
		if got := tc.row.Met(); got != tc.want {
			t.Errorf("%+v: Met = %v, want %v", tc.row, got, tc.want)
		}
	}
}

// A figure that was not measured counts as missed and says why.
func TestTablePrintsWhyNotRun(t *testing.T) {
	var tb Table
	tb.add("events default", "records/s", 9000, ">=", 8000, "default")
	tb.missing("ups unlimited", "records/s", ">=", 100000, "ups", "broker did not start")
	var out bytes.Buffer
	tb.Print(&out)
	if tb.Missed() != 1 {
		t.Errorf("Missed = %d, want 1", tb.Missed())
	}
	for _, want := range []string{"9000", "not run", "[broker did not start]", "1 target(s) missed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// Usage reads a live child's accounting, and Stop reports a child that
// does not exit 0 on SIGTERM.
func TestProcUsageAndStop(t *testing.T) {
	p, err := start("sleep", "sleep", "30")
	if err != nil {
		t.Skip("no sleep binary: ", err)
	}
	defer p.Kill()
	u, err := p.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.RSS <= 0 || u.PeakRSS < u.RSS || u.CPU < 0 {
		t.Errorf("usage %+v: want RSS > 0, peak >= RSS, CPU >= 0", u)
	}
	if err := p.Stop(10 * time.Second); err == nil || !strings.Contains(err.Error(), "graceful stop") {
		t.Errorf("Stop of a process killed by SIGTERM = %v, want a graceful stop failure", err)
	}
	if _, err := p.Usage(); err == nil {
		t.Error("Usage of an ended process succeeded")
	}
}

func TestTailKeepsTheEnd(t *testing.T) {
	tl := &tail{max: 8}
	tl.Write([]byte("0123456"))
	tl.Write([]byte("789ab"))
	if got := tl.String(); got != "456789ab" {
		t.Errorf("tail = %q, want %q", got, "456789ab")
	}
}
