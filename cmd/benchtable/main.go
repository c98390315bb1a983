// Command benchtable reads `go test -bench` output on stdin and prints one
// table: each benchmark's figures beside their targets. make bench uses it.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// target is what one figure of one benchmark must reach. op is ">=", "<=" or
// "" for a figure reported without a target.
type target struct {
	bench, metric, op string
	value             float64
	what              string
}

var targets = []target{
	{"BenchmarkEventsSink", "events/s", ">=", 3000, "events -> Contacthub, 20 ms latency, no throttling"},
	{"BenchmarkEventsSink", "cpu-s/10k-events", "", 0, "CPU seconds per 10,000 events (whole process)"},
	{"BenchmarkEventsSink", "peak-rss-MB", "", 0, "peak RSS (broker + sandbox + connector)"},
	{"BenchmarkEventsMapped", "events/s", "", 0, "OrderPlaced -> completedOrder mapping, then the events sink (20 ms latency)"},
	{"BenchmarkEventsMapped", "unmapped-events/s", "", 0, "the same events produced already mapped, no mapping"},
	{"BenchmarkEventsMapped", "pct-of-unmapped", ">=", 80, "mapped rate as % of the unmapped rate"},
	{"BenchmarkEventsMapped", "cpu-s/10k-events", "", 0, "CPU seconds per 10,000 events, with the mapping"},
	{"BenchmarkEventsMapped", "unmapped-cpu-s/10k-events", "", 0, "CPU seconds per 10,000 events, without"},
	{"BenchmarkMappingOrderPlaced", "us/record", "", 0, "the mapping alone: input document, jq run, output (CPU per record)"},
	{"BenchmarkEventsThrottled", "pct-of-limit", ">=", 97, "throttled at 6000/min: share of 100/s delivered"},
	{"BenchmarkEventsThrottled", "429s", "<=", 0, "429 answers while throttled"},
	{"BenchmarkUPSAtRateLimit", "delivered/s", ">=", 990, "UPS at the 1000 updates/s limit"},
	{"BenchmarkUPSAtRateLimit", "429-pct", "<=", 1, "429s as % of requests"},
	{"BenchmarkUPSAtRateLimit", "fill-pct", ">=", 90, "mean request fill, % of the binding limit"},
	{"BenchmarkUPSUnlimited", "records/s", ">=", 50000, "UPS with limits lifted"},
	{"BenchmarkUPSUnlimited", "cpu-s/100k-records", "", 0, "CPU seconds per 100,000 records"},
	{"BenchmarkUPSUnlimited", "peak-rss-MB", "", 0, "peak RSS"},
	{"BenchmarkUpdateStreamSource", "updates/s", ">=", 50000, "update stream -> Kafka, pages of 4000"},
	{"BenchmarkUpdateStreamSource", "pct-of-raw", ">=", 70, "% of the raw kafka-go produce rate"},
	{"BenchmarkUpdateStreamSource", "raw-produce/s", "", 0, "raw kafka-go produce rate, same broker"},
	{"BenchmarkUpdateStreamSource", "peak-rss-MB", "", 0, "peak RSS"},
}

func main() {
	figures := map[string]map[string]float64{}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i]
		}
		m := figures[name]
		if m == nil {
			m = map[string]float64{}
			figures[name] = m
		}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[f[i+1]] = v
			}
		}
	}
	fmt.Printf("%-28s %-20s %12s %10s  %-6s %s\n", "benchmark", "figure", "value", "target", "met", "what")
	fmt.Println(strings.Repeat("-", 120))
	missed := 0
	for _, t := range targets {
		v, ok := figures[t.bench][t.metric]
		val, tgt, met := "not run", "", ""
		if t.op != "" {
			tgt = t.op + " " + strconv.FormatFloat(t.value, 'g', -1, 64)
		}
		if ok {
			val = strconv.FormatFloat(v, 'f', 2, 64)
			switch {
			case t.op == "":
				met = ""
			case (t.op == ">=" && v >= t.value) || (t.op == "<=" && v <= t.value):
				met = "yes"
			default:
				met = "NO"
				missed++
			}
		}
		fmt.Printf("%-28s %-20s %12s %10s  %-6s %s\n", strings.TrimPrefix(t.bench, "Benchmark"), t.metric, val, tgt, met, t.what)
	}
	if missed > 0 {
		fmt.Printf("\n%d target(s) missed\n", missed)
	}
}
