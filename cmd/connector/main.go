// Command connector runs the Kafka <-> Contacthub / UPS / EnableNow connector.
//
//	connector validate -config FILE   check a config file and exit
//	connector run -config FILE        run the pipelines the file describes
//	connector dlq inspect|replay ...  count, show and replay a sink's dead letters
//
// The embedded demo (broker, sandbox APIs, sample traffic) is cmd/demo, so
// that this binary links neither the sandbox nor the embedded broker.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/service"
)

const usage = `usage:
  connector validate -config FILE
  connector run -config FILE
  connector dlq inspect -config FILE -sink NAME [-samples 5] [-per hour|day]
  connector dlq replay  -config FILE -sink NAME [-reason R[,R...] | -all] [-since T] [-until T] [-skip-older] [-rate N] [-dry-run]
  (connector dlq inspect -h, connector dlq replay -h: what they do)
(the embedded demo is a command of its own: go run ./cmd/demo)`

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
	case "dlq":
		err = dlqCommand(ctx, os.Args[2:])
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
	defer svc.Close()
	return svc.Run(ctx)
}
