// Command demo runs the connector's embedded default in one process: an
// in-process Kafka broker (kfake), the sandbox APIs, sample traffic, every
// pipeline and the source, with live progress. `make run` runs it.
//
//	demo [-for 20s] [-summary-json FILE] [-ops ADDR] [-quiet] [-changes]
//
// It is its own command so that the production binary (cmd/connector)
// links neither the sandbox nor the embedded broker.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/contactlab/connector/connector/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	var o demo.Options
	fs.DurationVar(&o.For, "for", 0, "stop by itself after this long (0: until Ctrl-C)")
	fs.StringVar(&o.SummaryJSON, "summary-json", "", "write per-pipeline counts to this file at the end")
	fs.StringVar(&o.OpsAddr, "ops", "127.0.0.1:8080", "address of /metrics, /healthz, /readyz")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress lines")
	fs.BoolVar(&o.Changes, "changes", false, "print every change the example subscriber receives from the source's topics")
	fs.DurationVar(&o.Drain, "drain", 15*time.Second, "after -for, how long traffic may drain before the summary")
	_ = fs.Parse(os.Args[1:])
	if err := demo.Run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
