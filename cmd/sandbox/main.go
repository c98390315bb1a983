// Command sandbox serves stand-ins for Contacthub, the UPS Enrichment API and
// EnableNow that enforce the documented rules, with fault injection that can
// also be changed at run time: PUT /_sandbox/{contacthub,ups,enablenow}/faults.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
)

func main() {
	cfg := sandbox.DefaultConfig()
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	flag.StringVar(&cfg.Contacthub.Token, "contacthub-token", envOr("CONTACTHUB_TOKEN", cfg.Contacthub.Token), "bearer token Contacthub accepts")
	flag.IntVar(&cfg.Contacthub.MaxRequestsPerMinute, "max-requests-per-minute", 0, "Contacthub workspace throttling (0: off)")
	flag.Float64Var(&cfg.Contacthub.ChangesPerSecond, "changes-per-second", 20, "Contacthub update-stream generator rate")
	flag.BoolVar(&cfg.Contacthub.UpdateOffsets, "update-offsets", false, "give each Contacthub update-stream update its offset (the reference shows none)")
	flag.StringVar(&cfg.UPS.ClientSecret, "ups-client-secret", envOr("UPS_CLIENT_SECRET", cfg.UPS.ClientSecret), "UPS client secret")
	flag.IntVar(&cfg.UPS.UpdatesPerSecond, "ups-updates-per-second", 1000, "UPS user updates per second before 429")
	flag.Float64Var(&cfg.UPS.JobFailShare, "ups-job-fail-share", 0, "share of UPS jobs that end FAILED")
	flag.StringVar(&cfg.EnableNow.Token, "enablenow-token", envOr("ENABLENOW_TOKEN", cfg.EnableNow.Token), "EnableNow bearer token")
	var f fault.Settings
	latency := flag.Duration("latency", 0, "added latency on every API (all three)")
	flag.Float64Var(&f.ServerErrorShare, "5xx-share", 0, "share of requests answered 503")
	flag.Float64Var(&f.ThrottleShare, "429-share", 0, "share of requests answered 429")
	flag.Float64Var(&f.ResetShare, "reset-share", 0, "share of connections reset")
	unauth := flag.Duration("unauthorized-for", 0, "answer 401 for this long from start")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file (make bench's UPS run, to see what the stand-in costs)")
	flag.Parse()
	if os.Getenv("GOGC") == "" {
		// The stand-in's live heap is mostly what it stores, which only
		// grows, while each request allocates its records' instances for
		// the schema check and drops them: a collection per 100% of
		// growth spent a fifth of its CPU on garbage collection under
		// make bench's UPS load. Memory is cheap next to that here.
		debug.SetGCPercent(400)
	}
	if *cpuProfile != "" {
		stop, err := profileCPU(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sandbox:", err)
			os.Exit(1)
		}
		defer stop()
	}
	f.Latency = fault.Duration(*latency)
	f.UnauthorizedFor = fault.Duration(*unauth)
	f.RetryAfter = fault.Duration(time.Second)
	cfg.Contacthub.Faults, cfg.UPS.Faults, cfg.EnableNow.Faults = f, f, f

	sb, err := sandbox.Start(*addr, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
	fmt.Printf("sandbox on %s: contacthub %s, ups %s, enablenow %s\n", sb.URL(), sb.ContacthubURL(), sb.URL(), sb.URL())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	sb.Close()
}

// profileCPU starts a CPU profile written to path; stop ends it.
func profileCPU(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "sandbox: cpu profile:", err)
		}
	}, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
