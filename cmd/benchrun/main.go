// Command benchrun is make bench: it runs the connector as its own process
// against cmd/broker and cmd/sandbox processes and prints its figures
// beside their targets in one table (package bench). With -profile DIR it
// is make profile instead: one events run with CPU and allocation profiles.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/contactlab/connector/bench"
)

func main() {
	o := bench.DefaultOptions()
	flag.IntVar(&o.EventsN, "events", o.EventsN, "events backlog of each events run")
	flag.DurationVar(&o.Latency, "latency", o.Latency, "sandbox Contacthub latency")
	sweep := flag.String("sweep", joinInts(o.Sweep), "fixed concurrencies tried (comma-separated)")
	flag.IntVar(&o.BacklogN, "backlog", o.BacklogN, "events backlog of the peak-RSS run")
	flag.IntVar(&o.UPSN, "ups", o.UPSN, "UPS backlog (four collections)")
	flag.IntVar(&o.IdlePipelines, "idle", o.IdlePipelines, "idle pipelines in one process")
	flag.DurationVar(&o.IdleWindow, "idle-window", o.IdleWindow, "how long idle pipelines are measured")
	flag.DurationVar(&o.Budget, "budget", o.Budget, "time for the whole run; runs that do not fit are reported not run (0: none)")
	only := flag.String("only", "", "run only the groups this regexp matches: events, sweep, floor, mapped, backlog, ups, idle, gotest")
	profile := flag.String("profile", "", "make profile: one events run with http.pprof on; write cpu.pprof and allocs.pprof to this directory")
	profileSeconds := flag.Int("profile-seconds", 10, "length of the CPU profile, from the first accepted record")
	flag.Parse()
	if err := parse(&o, *sweep, *only); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, *profile, *profileSeconds); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o bench.Options, profile string, seconds int) error {
	h, err := bench.NewHarness(ctx, os.Stderr)
	if err != nil {
		return err
	}
	defer h.Close()
	if profile != "" {
		return h.Profile(ctx, o, profile, seconds)
	}
	t := h.Run(ctx, o)
	fmt.Println()
	t.Print(os.Stdout)
	return nil
}

func parse(o *bench.Options, sweep, only string) error {
	o.Sweep = nil
	for s := range strings.SplitSeq(sweep, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		c, err := strconv.Atoi(s)
		if err != nil || c < 1 {
			return fmt.Errorf("-sweep %q: %q is not a concurrency", sweep, s)
		}
		o.Sweep = append(o.Sweep, c)
	}
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			return fmt.Errorf("-only: %w", err)
		}
		o.Only = re
	}
	return nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
