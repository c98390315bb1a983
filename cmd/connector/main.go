// Command connector runs the Kafka <-> Contacthub / UPS / EnableNow connector.
//
//	connector validate -config FILE   check a config file and exit
//	connector run -config FILE        run the pipelines the file describes
//	connector demo [-for 20s] [-summary-json FILE]
//	                                  run everything in one process: embedded
//	                                  broker, sandbox APIs, sample traffic
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/demo"
	"github.com/contactlab/connector/connector/service"
)

const usage = `usage:
  connector validate -config FILE
  connector run -config FILE
  connector demo [-for DURATION] [-summary-json FILE] [-ops ADDR] [-quiet]`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "validate":
		err = validate(os.Args[2:])
	case "run":
		err = run(ctx, os.Args[2:])
	case "demo":
		err = runDemo(ctx, os.Args[2:])
	case "-h", "-help", "--help", "help":
		fmt.Println(usage)
		return
	default:
		err = fmt.Errorf("unknown command %q\n%s", os.Args[1], usage)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "connector:", err)
		os.Exit(1)
	}
}

func loadFlag(name string, args []string) (*config.Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	path := fs.String("config", "", "config file (YAML)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *path == "" {
		return nil, errors.New("-config FILE is required")
	}
	return config.Load(*path)
}

func validate(args []string) error {
	cfg, err := loadFlag("validate", args)
	if err != nil {
		return err
	}
	fmt.Printf("config OK: %d sinks, %d sources\n", len(cfg.Sinks), len(cfg.Sources))
	return nil
}

func run(ctx context.Context, args []string) error {
	cfg, err := loadFlag("run", args)
	if err != nil {
		return err
	}
	svc, err := service.New(cfg)
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}

func runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	var o demo.Options
	fs.DurationVar(&o.For, "for", 0, "stop by itself after this long (0: until Ctrl-C)")
	fs.StringVar(&o.SummaryJSON, "summary-json", "", "write per-pipeline counts to this file at the end")
	fs.StringVar(&o.OpsAddr, "ops", "127.0.0.1:8080", "address of /metrics, /healthz, /readyz")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress lines")
	fs.BoolVar(&o.Changes, "changes", false, "print every change the example subscriber receives from the source's topics")
	fs.DurationVar(&o.Drain, "drain", 15*time.Second, "after -for, how long traffic may drain before the summary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return demo.Run(ctx, o, os.Stdout)
}
