package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/contactlab/connector/connector/dlq"
)

const dlqUsage = `usage:
  connector dlq inspect -config FILE -sink NAME [-samples 5] [-per hour|day]
  connector dlq replay  -config FILE -sink NAME [-reason R[,R...] | -all] [-since T] [-until T] [-skip-older] [-rate N] [-dry-run]`

const inspectHelp = `connector dlq inspect reads the sink's dead-letter topic (dead_letter_topic,
default <sink>.dlq) from its beginning to the end it has when the command
starts, and prints counts by reason (dlq.reason), by error (dlq.error with
ids, numbers and times replaced, so that one cause counts once), by hour or
day of dlq.time, and a few samples. It joins no group and commits nothing.`

const replayHelp = `connector dlq replay re-produces dead letters of the sink to the topic and
partition they were read from (dlq.source.topic, dlq.source.partition), with
their key, value and original headers (the dlq.* ones left out) and a
dlq.replayed-from header (<dead-letter topic>/<partition>@<offset>). The
sink's pipeline consumes them again. It reads the dead-letter topic up to
the end it has when the command starts; progress goes to stderr each second.

Which ones: -reason chooses by dlq.reason (retries_exhausted after an API
outage, say); without it, the command refuses when the topic holds several
reasons, unless -all. Dead letters written without their value (too large
for the broker) cannot be replayed: they are skipped and counted.

Each dead letter is replayed once. Each reason has its own replay position
in each partition of the dead-letter topic: the committed offsets of the
consumer group connector-dlq-replay-<sink>-<reason>, which a run joins (a
run started while another of the same reason runs is refused). A position moves past a dead letter only after Kafka acknowledged
its replayed record (acks=all), past the other reasons' dead letters and
past those that cannot be replayed, but never past one the time filter
leaves out: in each partition the replay of a reason stops at the first dead
letter newer than -until or older than -since, and that one and the later
ones stay for a later run (the summary says where it held). So a dead letter
left out by -reason, -since or -until can be replayed by a later run with
another filter, and none twice. With -skip-older the dead letters older than
-since are passed over for good instead; kafka-consumer-groups
--reset-offsets on the reason's group brings them back. A crash repeats at
most one batch (500 records, or a tenth of -rate).

A replayed record is an ordinary record of its topic: every consumer group
reading that topic sees it again, not only this sink's. One that fails
again is dead-lettered again as a new dead letter. For sinks that keep the
last value of a key (UPS), a replayed record may be older than one of its
key delivered since, and would overwrite it: check with inspect and
-dry-run first.

Times (-since, -until): 2026-11-23T10:00:00Z, 2026-11-23T10:00 (UTC),
2026-11-23, or a duration before now (2h).`

// dlqCommand runs "connector dlq inspect|replay".
func dlqCommand(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(dlqUsage)
	}
	var err error
	switch args[0] {
	case "inspect":
		err = dlqInspect(ctx, args[1:])
	case "replay":
		err = dlqReplay(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Println(dlqUsage)
	default:
		err = fmt.Errorf("unknown dlq command %q\n%s", args[0], dlqUsage)
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h printed the help
	}
	return err
}

// dlqFlags are the flags both commands take.
type dlqFlags struct {
	fs   *flag.FlagSet
	sink *string
}

func newDLQFlags(name, help string) dlqFlags {
	fs := flag.NewFlagSet("dlq "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), help)
		fmt.Fprintln(fs.Output())
		fs.PrintDefaults()
	}
	fs.String("config", "", "config file (YAML)")
	return dlqFlags{fs: fs, sink: fs.String("sink", "", "the sink whose dead-letter topic to read")}
}

// topic parses args and finds the sink's dead-letter topic in the config.
func (f dlqFlags) topic(args []string) (dlq.Topic, error) {
	cfg, err := loadConfig(f.fs, args, "-sink NAME")
	if err != nil {
		return dlq.Topic{}, err
	}
	return dlq.TopicOf(cfg, *f.sink, slog.New(slog.NewTextHandler(os.Stderr, nil)))
}

func dlqInspect(ctx context.Context, args []string) error {
	f := newDLQFlags("inspect", inspectHelp)
	samples := f.fs.Int("samples", 5, "how many dead letters to show")
	per := f.fs.String("per", "", `count over time "hour" or "day" (default: hours when the dead letters span two days at most)`)
	t, err := f.topic(args)
	if err != nil {
		return err
	}
	if *per != "" && *per != "hour" && *per != "day" {
		return fmt.Errorf("-per %q: hour or day", *per)
	}
	s, err := dlq.Inspect(ctx, t, *samples)
	if err != nil {
		return err
	}
	s.Print(os.Stdout, *per)
	return nil
}

func dlqReplay(ctx context.Context, args []string) error {
	f := newDLQFlags("replay", replayHelp)
	reasons := f.fs.String("reason", "", "replay dead letters of these reasons (dlq.reason), comma-separated")
	all := f.fs.Bool("all", false, "replay every reason the topic holds")
	since := f.fs.String("since", "", "replay dead letters from this time on (dlq.time)")
	until := f.fs.String("until", "", "replay dead letters up to this time (dlq.time)")
	skipOlder := f.fs.Bool("skip-older", false, "with -since: pass over the older dead letters for good instead of stopping at them")
	perSecond := f.fs.Float64("rate", 0, "records per second (0: as fast as the brokers take them)")
	dryRun := f.fs.Bool("dry-run", false, "list what would be replayed; produce and commit nothing")
	t, err := f.topic(args)
	if err != nil {
		return err
	}
	o := dlq.ReplayOptions{All: *all, SkipOlder: *skipOlder, Rate: *perSecond, DryRun: *dryRun, Out: os.Stdout, Progress: os.Stderr}
	if *reasons != "" {
		o.Reasons = strings.Split(*reasons, ",")
	}
	now := time.Now()
	for _, tf := range []struct {
		flag string
		val  string
		to   *time.Time
	}{{"-since", *since, &o.Since}, {"-until", *until, &o.Until}} {
		if tf.val == "" {
			continue
		}
		if *tf.to, err = dlq.ParseTime(tf.val, now); err != nil {
			return fmt.Errorf("%s: %w", tf.flag, err)
		}
	}
	res, err := dlq.Replay(ctx, t, o)
	if res != nil {
		res.Print(os.Stdout)
	}
	return err
}
