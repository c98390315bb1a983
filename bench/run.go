package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Options say what one make bench run measures.
type Options struct {
	// EventsN is the backlog of each events run; Latency the sandbox's
	// Contacthub latency.
	EventsN int
	Latency time.Duration
	// Sweep are the fixed concurrencies tried, by the connector and by the
	// floor.
	Sweep []int
	// BacklogN is the backlog whose peak RSS must stay flat.
	BacklogN int
	// UPSN is the backlog of the UPS run, spread over the four collections.
	UPSN int
	// IdlePipelines run in one process for IdleWindow.
	IdlePipelines int
	IdleWindow    time.Duration
	// Only, when set, runs the groups it matches: events, sweep, floor,
	// mapped, backlog, ups, idle, gotest.
	Only *regexp.Regexp
	// Budget bounds the whole run: on a machine so loaded that it would
	// take longer, the runs that do not fit are reported not run.
	Budget time.Duration
}

// DefaultOptions are make bench's: the whole run takes 11 to 13 minutes on
// the 2-core machine shared with other work.
func DefaultOptions() Options {
	return Options{
		EventsN: 100_000, Latency: 20 * time.Millisecond, Sweep: []int{64, 128, 256, 512},
		BacklogN: 1_000_000, UPSN: 400_000, IdlePipelines: 100, IdleWindow: 20 * time.Second,
		Budget: 14 * time.Minute,
	}
}

// Harness runs the processes of make bench from binaries built once.
type Harness struct {
	bin Binaries
	dir string // config files and binaries; removed by Close
	log io.Writer
	t0  time.Time
}

// NewHarness builds the binaries into a temporary directory. log receives
// progress and each run's details.
func NewHarness(ctx context.Context, log io.Writer) (*Harness, error) {
	dir, err := os.MkdirTemp("", "connector-bench-")
	if err != nil {
		return nil, err
	}
	h := &Harness{dir: dir, log: log, t0: time.Now()}
	h.logf("building cmd/connector, cmd/broker, cmd/sandbox and bench/floor")
	if h.bin, err = Build(ctx, filepath.Join(dir, "bin")); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return h, nil
}

// Close removes the binaries and config files.
func (h *Harness) Close() error { return os.RemoveAll(h.dir) }

func (h *Harness) logf(format string, args ...any) {
	fmt.Fprintf(h.log, "[%5.0fs] %s\n", time.Since(h.t0).Seconds(), fmt.Sprintf(format, args...))
}

// drainTimeout bounds one drain: a minute, plus n records at minRate.
func (h *Harness) drainTimeout(n, minRate int) time.Duration {
	return time.Minute + time.Duration(n/minRate)*time.Second
}

// Run measures what o selects and returns the table. A run that fails
// leaves its rows "not run" with the reason, and the others go on.
func (h *Harness) Run(ctx context.Context, o Options) *Table {
	if o.Budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Budget-time.Since(h.t0))
		defer cancel()
	}
	// why is the note of a row not measured.
	why := func(err error) string {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "over make bench's time budget (" + o.Budget.String() + "): " + short(err)
		}
		return short(err)
	}
	want := func(group string) bool { return o.Only == nil || o.Only.MatchString(group) }
	t := &Table{LoadStart: loadAvg()}
	h.logf("load average at start: %s", t.LoadStart)

	// Events: the connector with its defaults, at each fixed concurrency,
	// and the floor at each.
	var def Drain
	var defErr error = errSkipped
	if want("events") {
		def, defErr = h.events(ctx, eventsRun{n: o.EventsN, latency: o.Latency})
	}
	sweep := map[int]Drain{}
	sweepErr := map[int]error{}
	floor := map[int]Drain{}
	floorErr := map[int]error{}
	for _, c := range o.Sweep {
		sweepErr[c], floorErr[c] = errSkipped, errSkipped
		if want("sweep") {
			sweep[c], sweepErr[c] = h.events(ctx, eventsRun{n: o.EventsN, latency: o.Latency, concurrency: c})
		}
		if want("floor") {
			floor[c], floorErr[c] = h.events(ctx, eventsRun{n: o.EventsN, latency: o.Latency, concurrency: c, floor: true})
		}
	}
	best, bestC := Drain{}, 0
	for _, c := range o.Sweep {
		if sweepErr[c] == nil && (bestC == 0 || sweep[c].PerSecond() > best.PerSecond()) {
			best, bestC = sweep[c], c
		}
	}
	// The physical floor of this work on this machine: the least CPU per
	// record the minimal program needed at any concurrency tried.
	floorMin, floorMinC := 0.0, 0
	for _, c := range o.Sweep {
		if floorErr[c] == nil && (floorMinC == 0 || floor[c].CPUPerRecord() < floorMin) {
			floorMin, floorMinC = floor[c].CPUPerRecord(), c
		}
	}
	lat := o.Latency.String()
	n := strconv.Itoa(o.EventsN)
	// Default settings.
	g := "events default"
	if defErr == nil {
		t.add(g, "records/s", def.PerSecond(), ">=", 8000, "connector, default settings, "+n+" events, "+lat+" latency")
		if bestC > 0 {
			t.add(g, "pct-of-best-fixed", 100*def.PerSecond()/best.PerSecond(), ">=", 90, fmt.Sprintf("%% of the best fixed concurrency's records/s (%d)", bestC))
		} else {
			t.missing(g, "pct-of-best-fixed", ">=", 90, "% of the best fixed concurrency's records/s", "no sweep")
		}
		t.add(g, "cpu-us/record", def.CPUPerRecord(), "<=", 40, "connector process CPU (user+sys) per event")
		if floorMinC > 0 {
			t.add(g, "x-floor", def.CPUPerRecord()/floorMin, "<=", 1.5, fmt.Sprintf("CPU per record / the floor's least (%.1f µs at concurrency %d)", floorMin, floorMinC))
		} else {
			t.missing(g, "x-floor", "<=", 1.5, "CPU per record / the floor's least", "no floor")
		}
		t.add(g, "peak-rss-MB", mb(def.End.PeakRSS), "", 0, "connector process VmHWM")
	} else if defErr != errSkipped {
		t.missing(g, "records/s", ">=", 8000, "connector, default settings, "+n+" events, "+lat+" latency", why(defErr))
	}
	// Best fixed concurrency, then every point of the sweep.
	g = "events best fixed"
	if bestC > 0 {
		t.add(g, "concurrency", float64(bestC), "", 0, fmt.Sprintf("the sweep's best of %v", o.Sweep))
		t.add(g, "records/s", best.PerSecond(), "", 0, "connector at that concurrency")
		t.add(g, "cpu-us/record", best.CPUPerRecord(), "<=", 40, "connector process CPU per event")
		if floorErr[bestC] == nil {
			t.add(g, "x-floor", best.CPUPerRecord()/floor[bestC].CPUPerRecord(), "<=", 1.5, fmt.Sprintf("CPU per record / the floor's at concurrency %d", bestC))
		}
	} else if want("sweep") {
		t.missing(g, "records/s", "", 0, "connector at the best fixed concurrency", "every sweep run failed")
	}
	// Every point of the sweep, the connector's and then the floor's.
	for _, series := range []struct {
		name, what string
		runs       map[int]Drain
		errs       map[int]error
		xFloor     bool // compared with the floor at the same concurrency
	}{
		{"events", "connector, concurrency ", sweep, sweepErr, true},
		{"floor", "kafka-go group read + net/http POST only, concurrency ", floor, floorErr, false},
	} {
		for _, c := range o.Sweep {
			g := fmt.Sprintf("%s c=%d", series.name, c)
			if err := series.errs[c]; err != nil {
				if err != errSkipped {
					t.missing(g, "records/s", "", 0, series.what+strconv.Itoa(c), why(err))
				}
				continue
			}
			d := series.runs[c]
			t.add(g, "records/s", d.PerSecond(), "", 0, series.what+strconv.Itoa(c))
			t.add(g, "cpu-us/record", d.CPUPerRecord(), "", 0, "")
			if series.xFloor && floorErr[c] == nil {
				t.add(g, "x-floor", d.CPUPerRecord()/floor[c].CPUPerRecord(), "", 0, "CPU per record / the floor's at the same concurrency")
			}
			t.add(g, "peak-rss-MB", mb(d.End.PeakRSS), "", 0, "")
		}
	}

	// OrderPlaced events through a mapping, beside the same events mapped
	// beforehand: what a mapping costs the connector's throughput. The runs
	// go mapped, unmapped, unmapped, mapped, and each side's figures are
	// the two runs' together, so that a machine that speeds up or slows
	// down during the four favours neither side.
	if want("mapped") {
		g := "events mapped"
		what := fmt.Sprintf("connector, default settings, %s OrderPlaced -> completedOrder through the mapping, twice", n)
		var runs [4]Drain
		var errs [4]error
		for i, orders := range []ordersTraffic{ordersMapped, ordersPremapped, ordersPremapped, ordersMapped} {
			if errs[i] = firstErr(errs[:i]...); errs[i] == nil {
				runs[i], errs[i] = h.events(ctx, eventsRun{n: o.EventsN, latency: o.Latency, orders: orders})
			}
		}
		if err := firstErr(errs[:]...); err != nil {
			t.missing(g, "pct-of-unmapped", ">=", 80, "mapped records/s as % of the unmapped one", why(err))
		} else {
			mapped, plain := runs[0].Plus(runs[3]), runs[1].Plus(runs[2])
			t.add(g, "records/s", mapped.PerSecond(), "", 0, what)
			t.add(g, "unmapped-records/s", plain.PerSecond(), "", 0, "the same events mapped beforehand, sent without a mapping, twice")
			t.add(g, "pct-of-unmapped", 100*mapped.PerSecond()/plain.PerSecond(), ">=", 80,
				fmt.Sprintf("mapped records/s as %% of the unmapped one (run by run: %.1f%%, %.1f%%)",
					100*runs[0].PerSecond()/runs[1].PerSecond(), 100*runs[3].PerSecond()/runs[2].PerSecond()))
			t.add(g, "cpu-us/record", mapped.CPUPerRecord(), "", 0, fmt.Sprintf("connector process CPU per event (unmapped: %.1f µs)", plain.CPUPerRecord()))
		}
	}

	// UPS without limits.
	if want("ups") {
		g := "ups unlimited"
		what := fmt.Sprintf("connector, 4 collections, %d updates, sandbox rate limit lifted", o.UPSN)
		d, err := h.ups(ctx, o.UPSN)
		if err != nil {
			t.missing(g, "records/s", ">=", 100000, what, why(err))
		} else {
			t.add(g, "records/s", d.PerSecond(), ">=", 100000, what)
			t.add(g, "cpu-us/record", d.CPUPerRecord(), "", 0, "connector process CPU per update")
			t.add(g, "peak-rss-MB", mb(d.End.PeakRSS), "", 0, "connector process VmHWM")
		}
	}

	// A backlog ten times larger: the peak RSS must not follow it. It runs
	// with the defaults users get (the adaptive limit drains it about as
	// fast as the best fixed one, so the run stays within make bench's
	// quarter hour) and is compared with the default run on the smaller
	// backlog.
	if want("backlog") {
		g := "events backlog"
		r, ref, refErr, settings := eventsRun{n: o.BacklogN, latency: o.Latency}, def, defErr, "default settings"
		what := fmt.Sprintf("connector VmHWM draining %d events, %s, %s latency", o.BacklogN, settings, lat)
		d, err := h.events(ctx, r)
		if err != nil {
			t.missing(g, "peak-rss-MB", "<=", 60, what, why(err))
		} else {
			t.add(g, "peak-rss-MB", mb(d.End.PeakRSS), "<=", 60, what)
			if refErr == nil {
				t.add(g, "rss-growth-pct", 100*(float64(d.End.PeakRSS)/float64(ref.End.PeakRSS)-1), "<=", 10,
					fmt.Sprintf("over the peak RSS draining %s events with the same settings (%.1f MB): flat means noise only", n, mb(ref.End.PeakRSS)))
			}
			t.add(g, "records/s", d.PerSecond(), "", 0, "")
			t.add(g, "cpu-us/record", d.CPUPerRecord(), "", 0, "")
		}
	}

	// Idle pipelines: what one more pipeline costs doing nothing.
	if want("idle") {
		g := "idle pipelines"
		one, err1 := h.idle(ctx, 1, o.IdleWindow)
		many, err2 := h.idle(ctx, o.IdlePipelines, o.IdleWindow)
		what := fmt.Sprintf("(RSS with %d - RSS with 1) / %d", o.IdlePipelines, o.IdlePipelines-1)
		if err := firstErr(err1, err2); err != nil {
			t.missing(g, "rss-MB/pipeline", "<=", 1, what, why(err))
		} else {
			per := float64(o.IdlePipelines)
			t.add(g, "rss-MB/pipeline", mb(many.RSS-one.RSS)/(per-1), "<=", 1, what)
			// "No measurable CPU": the pipelines together under 1% of
			// one core, i.e. 0.01% each.
			t.add(g, "cpu-pct/pipeline", 100*many.CPU.Seconds()/many.Window.Seconds()/per, "<=", 0.01,
				fmt.Sprintf("%% of one core per idle pipeline, %d in one process over %s (target: all under 1%%)", o.IdlePipelines, o.IdleWindow))
			t.add(g, "rss-MB", mb(many.RSS), "", 0, fmt.Sprintf("VmRSS of the process with %d idle pipelines (1: %.1f MB)", o.IdlePipelines, mb(one.RSS)))
		}
	}

	// In-process benchmarks of behaviours rather than of the process's
	// cost: pacing under a rate limit, and the update-stream source.
	if want("gotest") {
		h.goBenchRows(ctx, t, why)
	}
	t.LoadEnd = loadAvg()
	h.logf("load average at end: %s", t.LoadEnd)
	return t
}

// goBenchTargets are the figures kept from the in-process benchmarks.
var goBenchTargets = []struct {
	pkg, bench, metric, group, figure, op string
	target                                float64
	what                                  string
}{
	{"./connector/service/", "BenchmarkEventsThrottled", "pct-of-limit", "events throttled", "pct-of-limit", ">=", 97, "throttled at 6000/min: share of 100/s delivered (in process)"},
	{"./connector/service/", "BenchmarkEventsThrottled", "429s", "events throttled", "429s", "<=", 0, "429 answers while throttled"},
	{"./connector/service/", "BenchmarkUPSAtRateLimit", "delivered/s", "ups at rate limit", "delivered/s", ">=", 990, "UPS at the 1000 updates/s limit (in process)"},
	{"./connector/service/", "BenchmarkUPSAtRateLimit", "429-pct", "ups at rate limit", "429-pct", "<=", 1, "429s as % of requests"},
	{"./connector/service/", "BenchmarkUPSAtRateLimit", "fill-pct", "ups at rate limit", "fill-pct", ">=", 90, "mean request fill, % of the binding limit"},
	{"./connector/service/", "BenchmarkEventsSink", "events/s", "events kfake/kafka", "kfake events/s", ">=", 3000, "events at 20 ms, defaults, kfake broker (in process)"},
	{"./connector/service/", "BenchmarkEventsRealKafka", "events/s", "events kfake/kafka", "kafka events/s", ">=", 3000, "the same on a real Apache Kafka 4.4 broker (one node, its JVM outside the measured process)"},
	{"./connector/mapping/", "BenchmarkMappingOrderPlaced", "us/record", "mapping alone", "us/record", "", 0, "CPU per record of the OrderPlaced mapping alone (input document, jq, outputs)"},
	{"./connector/contacthub/", "BenchmarkUpdateStreamSource", "updates/s", "update stream source", "updates/s", ">=", 50000, "update stream -> Kafka, pages of 4000 (in process)"},
	{"./connector/contacthub/", "BenchmarkUpdateStreamSource", "pct-of-raw", "update stream source", "pct-of-raw", ">=", 70, "% of the raw kafka-go produce rate"},
	{"./connector/contacthub/", "BenchmarkUpdateStreamSource", "peak-rss-MB", "update stream source", "peak-rss-MB", "", 0, "peak RSS of the test process (sandbox and broker included)"},
}

func (h *Harness) goBenchRows(ctx context.Context, t *Table, why func(error) string) {
	byPkg := map[string][]string{}
	var pkgs []string
	for _, g := range goBenchTargets {
		if !strings.Contains(strings.Join(byPkg[g.pkg], "|"), g.bench) {
			if byPkg[g.pkg] == nil {
				pkgs = append(pkgs, g.pkg)
			}
			byPkg[g.pkg] = append(byPkg[g.pkg], g.bench)
		}
	}
	figures := map[string]map[string]float64{}
	errs := map[string]error{}
	for _, pkg := range pkgs {
		pattern := "^(" + strings.Join(byPkg[pkg], "|") + ")$"
		h.logf("go test -bench %s %s", pattern, pkg)
		f, err := goBench(ctx, pkg, pattern)
		if err != nil {
			h.logf("  FAILED: %v", err)
			errs[pkg] = err
		}
		for k, v := range f {
			figures[k] = v
			h.logf("  %s %v", k, v)
		}
	}
	for _, g := range goBenchTargets {
		v, ok := figures[g.bench][g.metric]
		switch {
		case ok:
			t.add(g.group, g.figure, v, g.op, g.target, g.what)
		case errs[g.pkg] != nil:
			t.missing(g.group, g.figure, g.op, g.target, g.what, why(errs[g.pkg]))
		default:
			t.missing(g.group, g.figure, g.op, g.target, g.what, "not reported")
		}
	}
}

// events, ups and idle log a run, its outcome and its details.
func (h *Harness) events(ctx context.Context, r eventsRun) (Drain, error) {
	h.logf("%s", r)
	d, err := h.runEvents(ctx, r)
	h.report(d, err)
	return d, err
}

func (h *Harness) ups(ctx context.Context, n int) (Drain, error) {
	h.logf("connector: UPS unlimited, %d updates", n)
	d, err := h.runUPSUnlimited(ctx, n)
	h.report(d, err)
	return d, err
}

func (h *Harness) idle(ctx context.Context, n int, window time.Duration) (Idle, error) {
	h.logf("connector: %d idle pipelines", n)
	i, err := h.runIdle(ctx, n, window)
	if err != nil {
		h.logf("  FAILED: %v", err)
	} else {
		h.logf("  %s", i)
	}
	return i, err
}

func (h *Harness) report(d Drain, err error) {
	if err != nil {
		msg := err.Error()
		if len(msg) > 2000 { // kafka-go lists every message's error
			msg = msg[:2000] + "..."
		}
		h.logf("  FAILED: %s", msg)
		return
	}
	h.logf("  %s", d)
}

// Profile runs the events benchmark with the connector's defaults and
// http.pprof on, and writes cpu.pprof (seconds of it, from the first
// accepted record) and allocs.pprof (the whole run) into dir.
func (h *Harness) Profile(ctx context.Context, o Options, dir string, seconds int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	r := eventsRun{n: o.EventsN, latency: o.Latency, profileDir: abs, profileSeconds: seconds}
	if o.Only != nil && o.Only.MatchString("mapped") {
		r.orders = ordersMapped // make profile with -only mapped: the mapping's run
	}
	_, err = h.events(ctx, r)
	if err != nil {
		return err
	}
	for _, p := range []struct{ file, flag string }{{"cpu.pprof", ""}, {"allocs.pprof", "-sample_index=alloc_space"}, {"heap.pprof", "-sample_index=inuse_space"}} {
		args := []string{"tool", "pprof", "-top", "-nodecount=25"}
		if p.flag != "" {
			args = append(args, p.flag)
		}
		out, err := exec.CommandContext(ctx, "go", append(args, filepath.Join(abs, p.file))...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go tool pprof %s: %w\n%s", p.file, err, out)
		}
		fmt.Fprintf(h.log, "\n== %s ==\n%s", filepath.Join(dir, p.file), out)
	}
	return nil
}

var errSkipped = fmt.Errorf("skipped")

// short is the first line of err, for a table cell.
func short(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return s
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// loadAvg is the machine's load average: the figures are only as quiet as
// the machine was.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
