// Command connector runs the Kafka <-> Contacthub / UPS / EnableNow connector.
//
//	connector validate -config FILE   check a config file and exit
//	connector run -config FILE        run the pipelines the file describes
//	connector dlq inspect|replay ...  count, show and replay a sink's dead letters
//	connector map -config FILE -sink NAME [-in FILE] [-json]
//	                                  dry run of a sink's mapping: no Kafka, no API
//	connector publish -config FILE -topic T [-sink NAME] [-in FILE]
//	                                  publish JSON lines, checked as sink NAME would take them
//
// The embedded demo (broker, sandbox APIs, sample traffic) is cmd/demo, so
// that this binary links neither the sandbox nor the embedded broker.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/mapping"
	"github.com/contactlab/connector/connector/service"
)

const usage = `usage:
  connector validate -config FILE
  connector run -config FILE
  connector dlq inspect -config FILE -sink NAME [-samples 5] [-per hour|day]
  connector dlq replay  -config FILE -sink NAME [-reason R[,R...] | -all] [-since T] [-until T] [-skip-older] [-rate N] [-dry-run]
  (connector dlq inspect -h, connector dlq replay -h: what they do)
  connector map -config FILE -sink NAME [-in samples.jsonl] [-json]
  connector publish -config FILE -topic T [-sink NAME] [-in file.jsonl]
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
	case "map":
		err = mapRecords(ctx, os.Args[2:], os.Stdin, os.Stdout)
	case "publish":
		err = publish(ctx, os.Args[2:], os.Stdin, os.Stdout)
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
	fs.String("config", "", "config file (YAML)")
	return loadConfig(fs, args)
}

// loadConfig parses args into fs and loads the config file its -config
// flag names. That flag must be set, and so must each of required, given
// as its usage ("-sink NAME").
func loadConfig(fs *flag.FlagSet, args []string, required ...string) (*config.Config, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	required = append([]string{"-config FILE"}, required...)
	for _, r := range required {
		name, _, _ := strings.Cut(strings.TrimPrefix(r, "-"), " ")
		if fs.Lookup(name).Value.String() == "" {
			if len(required) == 1 {
				return nil, fmt.Errorf("%s is required", r)
			}
			return nil, fmt.Errorf("%s are required", strings.Join(required, " and "))
		}
	}
	return config.Load(fs.Lookup("config").Value.String())
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

// mapRecords is `connector map`: each input line (a record as the mapping
// sees it, or a bare value) through the sink's mapping and its schema,
// printed; it fails when any record would be dead-lettered.
func mapRecords(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("map", flag.ContinueOnError)
	fs.String("config", "", "config file (YAML)")
	sink := fs.String("sink", "", "the sink whose mapping to run")
	asJSON := fs.Bool("json", false, "print one JSON result per input line")
	cfg, in, err := loadConfigAndInput(fs, args, stdin, "-sink NAME")
	if err != nil {
		return err
	}
	defer in.Close()
	prog, check, err := service.Mapper(cfg, *sink)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	var records, dead int
	err = mapping.DryRun(ctx, prog, check, in, func(r mapping.Result) {
		records++
		if r.DeadLettered() {
			dead++
		}
		if *asJSON {
			_ = enc.Encode(r)
			return
		}
		mapping.WriteText(stdout, r)
	})
	if err != nil {
		return err
	}
	if dead > 0 {
		return fmt.Errorf("%d of %d records would be dead-lettered", dead, records)
	}
	return nil
}

// publish is `connector publish`: JSON lines to a topic, each checked as
// the sink named would take it; nothing is published when one is refused.
func publish(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.String("config", "", "config file (YAML): the kafka section, and the sink to check against")
	topic := fs.String("topic", "", "the topic to publish to")
	sink := fs.String("sink", "", "check each line as this sink would take it (its mapping and schema)")
	cfg, in, err := loadConfigAndInput(fs, args, stdin, "-topic T")
	if err != nil {
		return err
	}
	defer in.Close()
	_, err = service.PublishLines(ctx, cfg, *topic, *sink, in, stdout)
	return err
}

// loadConfigAndInput is loadConfig for the commands that read JSON lines
// (map, publish): it adds their -in flag to fs and, the config loaded,
// opens the input: the file -in names, or stdin when it names none.
func loadConfigAndInput(fs *flag.FlagSet, args []string, stdin io.Reader, required ...string) (*config.Config, io.ReadCloser, error) {
	inPath := fs.String("in", "", "input, one JSON record or value per line (default: standard input)")
	cfg, err := loadConfig(fs, args, required...)
	if err != nil {
		return nil, nil, err
	}
	if *inPath == "" {
		return cfg, io.NopCloser(stdin), nil
	}
	f, err := os.Open(*inPath)
	if err != nil {
		return nil, nil, err
	}
	return cfg, f, nil
}
