package dlq

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/time/rate"
)

// HeaderReplayedFrom is added to every replayed record: the dead letter it
// came from, as <dead-letter topic>/<partition>@<offset>.
const HeaderReplayedFrom = "dlq.replayed-from"

// ErrSeveralReasons is returned by Replay, before it replays anything,
// when the topic holds dead letters of several reasons and the options
// choose none: replaying records that were refused as invalid with those
// whose retries ran out is seldom meant. Choose with Reasons, or set All.
var ErrSeveralReasons = errors.New("the dead-letter topic holds dead letters of several reasons: choose with -reason, or replay every reason with -all")

// ReplayOptions choose what Replay replays and how.
type ReplayOptions struct {
	// Reasons are the dlq.reason values to replay. Empty: the one reason
	// the topic holds; with several, All must be set.
	Reasons []string
	// All replays every reason the topic holds.
	All bool
	// Since and Until, when set, bound dlq.time. A partition's replay of a
	// reason stops at the first dead letter outside them.
	Since, Until time.Time
	// SkipOlder passes over, for good, the dead letters older than Since
	// instead of stopping at the first of them.
	SkipOlder bool
	// Rate paces the replay at this many records per second; 0: as fast
	// as the brokers take them.
	Rate float64
	// DryRun lists what a run would replay to Out, producing and
	// committing nothing and joining no group.
	DryRun bool
	// Out receives the dry-run listing; nil discards it.
	Out io.Writer
	// Progress receives a line every ProgressEvery (default 1s); nil: none.
	Progress      io.Writer
	ProgressEvery time.Duration
}

func (o ReplayOptions) validate() error {
	var errs []error
	if o.All && len(o.Reasons) > 0 {
		errs = append(errs, errors.New("-all and -reason exclude each other"))
	}
	if !o.Since.IsZero() && !o.Until.IsZero() && o.Until.Before(o.Since) {
		errs = append(errs, fmt.Errorf("-until %s is before -since %s", o.Until.Format(time.RFC3339), o.Since.Format(time.RFC3339)))
	}
	if o.SkipOlder && o.Since.IsZero() {
		errs = append(errs, errors.New("-skip-older needs -since"))
	}
	if o.Rate < 0 {
		errs = append(errs, fmt.Errorf("-rate %v: must not be negative", o.Rate))
	}
	return errors.Join(errs...)
}

// chooseReasons is the reasons a run replays, given those the topic holds.
func (o ReplayOptions) chooseReasons(held map[string]int) ([]string, error) {
	switch {
	case len(o.Reasons) > 0:
		rs := slices.Clone(o.Reasons)
		slices.Sort(rs)
		return slices.Compact(rs), nil
	case o.All || len(held) <= 1:
		return slices.Sorted(maps.Keys(held)), nil
	}
	var parts []string
	for _, r := range byCount(held) {
		parts = append(parts, fmt.Sprintf("%s %d", r, held[r]))
	}
	return nil, fmt.Errorf("%w (%s)", ErrSeveralReasons, strings.Join(parts, ", "))
}

// ReplayResult is what a Replay run did.
type ReplayResult struct {
	Topic   string
	Reasons []string
	// InTopic counts the topic's dead letters by reason.
	InTopic map[string]int
	DryRun  bool
	// Planned is how many dead letters the run chose; Replayed how many of
	// them were re-produced and acknowledged (listed, in a dry run).
	Planned, Replayed int
	// ByTopic counts the replayed records by the topic they went to.
	ByTopic map[string]int
	// Already counts dead letters of the reasons that earlier runs
	// replayed or passed over.
	Already int
	// Cannot counts, by why, dead letters that cannot be replayed: written
	// without their value ("value not kept") or without a source topic.
	Cannot map[string]int
	// PassedOver counts dead letters older than Since passed over for good
	// (SkipOlder).
	PassedOver int
	// Gone counts chosen dead letters the topic no longer had when read
	// (retention deleted them meanwhile).
	Gone int
	// Held says where the time filter stopped a reason in a partition.
	Held    []Hold
	Elapsed time.Duration
}

// Replay re-produces chosen dead letters of t to the topics they were
// read from (dlq.source.topic), into the partition they were read from
// when the topic still has it, with their key, value and original headers
// (the dlq.* ones left out) and HeaderReplayedFrom. A run reads the topic
// up to the end offsets it has when the run begins.
//
// It never replays a dead letter twice. Each reason has its own replay
// position per partition, the committed offsets of the consumer group
// ReplayGroup(sink, reason), which the run joins: a run started while
// another of the same reason runs is refused with ErrRunning, and one
// whose group another member joins anyway stops with ErrFenced. Dead letters are replayed in offset
// order, and a reason's position is committed past a dead letter only
// after Kafka acknowledged (acks=all) its replayed record, so a crash
// repeats at most one batch. A position moves past records of other
// reasons (they have their own positions), past dead letters that cannot
// be replayed (written without their value: counted in Cannot), but never
// past one the time filter leaves out: a partition's replay of the reason
// stops at the first dead letter newer than Until or older than Since, and
// it and the later ones stay for a later run (Held). With SkipOlder the
// dead letters older than Since are passed over for good instead.
//
// A replayed record that fails again is dead-lettered again, as a new dead
// letter that a later run may replay.
func Replay(ctx context.Context, t Topic, o ReplayOptions) (*ReplayResult, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	began := time.Now()
	e, err := t.extent(ctx)
	if err != nil {
		return nil, err
	}
	idx, err := t.index(ctx, e)
	if err != nil {
		return nil, err
	}
	reasons, err := o.chooseReasons(idx.byReason)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var pos positions
	var groups *replayGroups
	switch {
	case len(reasons) == 0: // an empty topic
	case o.DryRun:
		pos, err = t.fetchPositions(ctx, e, reasons)
	default:
		groups, pos, err = t.joinGroups(ctx, e, reasons, cancel)
		if groups != nil {
			defer groups.close()
		}
	}
	if err != nil {
		return nil, err
	}
	pl := makePlan(idx, e, pos, filter{reasons: reasons, since: o.Since, until: o.Until, skipOlder: o.SkipOlder})
	r := &replayer{t: t, o: o, plan: pl, pos: pos, groups: groups,
		res: &ReplayResult{Topic: t.Name, Reasons: reasons, InTopic: idx.byReason, DryRun: o.DryRun, Planned: pl.total, ByTopic: map[string]int{},
			Already: pl.already, Cannot: pl.cannot, PassedOver: pl.passedOver, Held: pl.held}}
	if o.Rate > 0 {
		r.limit = rate.NewLimiter(rate.Limit(o.Rate), 1)
	}
	if !o.DryRun {
		if r.w, err = t.writer(&r.route); err != nil {
			return nil, err
		}
		defer r.w.Close()
	}
	stopProgress := r.progress()
	err = r.run(ctx, e)
	stopProgress()
	r.res.Elapsed = time.Since(began)
	if c := context.Cause(ctx); err != nil && c != nil && !errors.Is(c, context.Canceled) {
		err = fmt.Errorf("%w (%w)", c, err)
	}
	return r.res, err
}

// index scans the extent and keeps what choosing needs of each dead letter.
func (t Topic) index(ctx context.Context, e extent) (index, error) {
	idx := index{parts: map[int][]entry{}, byReason: map[string]int{}}
	intern := map[string]string{}
	err := t.scan(ctx, e, func(m kafka.Message) error {
		l := parseLetter(m)
		r, ok := intern[l.Reason]
		if !ok {
			r = strings.Clone(l.Reason)
			intern[r] = r
		}
		idx.byReason[r]++
		idx.parts[l.Partition] = append(idx.parts[l.Partition], entry{offset: l.Offset, at: l.Time, reason: r, cannot: l.unreplayable()})
		return nil
	})
	return idx, err
}

// replayer runs one plan.
type replayer struct {
	t      Topic
	o      ReplayOptions
	plan   *plan
	pos    positions
	groups *replayGroups
	w      *kafka.Writer
	route  routes
	limit  *rate.Limiter
	done   atomic.Int64
	res    *ReplayResult
}

// batchSize is how many records one produce carries: about ten produces a
// second when paced.
func (r *replayer) batchSize() int {
	if r.o.Rate > 0 {
		return max(1, min(500, int(r.o.Rate/10)))
	}
	return 500
}

func (r *replayer) run(ctx context.Context, e extent) error {
	for _, p := range e.partitions {
		pp := r.plan.parts[p]
		if err := r.partition(ctx, p, pp); err != nil {
			return err
		}
		if err := r.commit(p, pp.final); err != nil {
			return err
		}
	}
	return nil
}

// partition replays pp's dead letters of partition p, in batches.
func (r *replayer) partition(ctx context.Context, p int, pp *partPlan) error {
	if len(pp.replay) == 0 {
		return nil
	}
	var batch []kafka.Message
	var last int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := r.produce(ctx, batch); err != nil {
			return fmt.Errorf("replay dead letters of %s/%d up to offset %d: %w", r.t.Name, p, last, err)
		}
		for _, m := range batch {
			r.res.ByTopic[m.Topic]++
		}
		r.res.Replayed += len(batch)
		r.done.Add(int64(len(batch)))
		batch = batch[:0]
		return r.commit(p, pp.after(last))
	}
	next := 0
	err := r.t.read(ctx, p, pp.replay[0].offset, pp.replay[len(pp.replay)-1].offset+1, func(m kafka.Message) error {
		for next < len(pp.replay) && pp.replay[next].offset < m.Offset {
			r.res.Gone++ // deleted by retention since the scan
			next++
		}
		if next == len(pp.replay) {
			return errStop
		}
		if pp.replay[next].offset != m.Offset {
			return nil // not chosen
		}
		next++
		if r.limit != nil {
			if err := r.limit.Wait(ctx); err != nil {
				return err
			}
		}
		batch = append(batch, r.message(parseLetter(m)))
		last = m.Offset
		if len(batch) >= r.batchSize() {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.res.Gone += len(pp.replay) - next // the last ones deleted since the scan
	return flush()
}

// message is the record that replays l.
func (r *replayer) message(l Letter) kafka.Message {
	from := fmt.Sprintf("%s/%d@%d", r.t.Name, l.Partition, l.Offset)
	hs := append(slices.Clip(l.Headers), kafka.Header{Key: HeaderReplayedFrom, Value: []byte(from)})
	if !r.o.DryRun {
		r.route.set(from, l.SourcePartition)
	}
	return kafka.Message{Topic: l.SourceTopic, Key: l.Key, Value: l.Value, Headers: hs, Partition: l.SourcePartition}
}

// produce writes batch and waits for every acknowledgement; a dry run
// lists it instead.
func (r *replayer) produce(ctx context.Context, batch []kafka.Message) error {
	if r.o.DryRun {
		if r.o.Out != nil {
			for _, m := range batch {
				fmt.Fprintf(r.o.Out, "would replay %s -> %s/%d key %q (%d bytes)\n", m.Headers[len(m.Headers)-1].Value, m.Topic, m.Partition, shortBytes(m.Key, SampleBytes), len(m.Value))
			}
		}
		return nil
	}
	// The writer ignores Partition (routes does the routing).
	send := make([]kafka.Message, len(batch))
	for i, m := range batch {
		m.Partition = 0
		send[i] = m
	}
	defer r.route.clear(batch)
	return r.w.WriteMessages(ctx, send...)
}

// commit moves each reason's position in partition p to to's, never back.
func (r *replayer) commit(p int, to map[string]int64) error {
	if r.o.DryRun {
		return nil
	}
	for reason, off := range to {
		if off <= r.pos[reason][p] {
			continue
		}
		if err := r.groups.commit(reason, r.t.Name, p, off); err != nil {
			return fmt.Errorf("save the replay position of %s in %s/%d at %d (the records replayed since the last saved position will be replayed again by the next run): %w", reason, r.t.Name, p, off, err)
		}
		r.pos[reason][p] = off
	}
	return nil
}

// progress prints a line every ProgressEvery until the returned func is
// called.
func (r *replayer) progress() (stop func()) {
	if r.o.Progress == nil {
		return func() {}
	}
	every := r.o.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	verb := "replayed"
	if r.o.DryRun {
		verb = "listed"
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		prev, prevAt := int64(0), time.Now()
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				n := r.done.Load()
				fmt.Fprintf(r.o.Progress, "%s %d/%d  %.0f/s\n", verb, n, r.plan.total, float64(n-prev)/now.Sub(prevAt).Seconds())
				prev, prevAt = n, now
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// Print writes what the run did for a terminal.
func (res *ReplayResult) Print(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	var held []string
	for _, r := range byCount(res.InTopic) {
		held = append(held, fmt.Sprintf("%s %d", r, res.InTopic[r]))
	}
	p("%s holds %s\n", res.Topic, cmp.Or(strings.Join(held, ", "), "no dead letters"))
	p("reasons replayed: %s\n", strings.Join(res.Reasons, ", "))
	rate := float64(res.Replayed) / max(res.Elapsed.Seconds(), 1e-3)
	if res.DryRun {
		p("dry run: would replay %d (nothing produced, no position moved)\n", res.Planned)
	} else {
		p("replayed %d of %d in %s (%.0f/s)", res.Replayed, res.Planned, res.Elapsed.Round(time.Millisecond), rate)
		for _, t := range slices.Sorted(maps.Keys(res.ByTopic)) {
			p("; %s %d", t, res.ByTopic[t])
		}
		p("\n")
	}
	if res.Already > 0 {
		p("already replayed by earlier runs: %d\n", res.Already)
	}
	for _, why := range slices.Sorted(maps.Keys(res.Cannot)) {
		p("skipped, cannot be replayed (%s): %d\n", why, res.Cannot[why])
	}
	if res.PassedOver > 0 {
		p("passed over for good, older than -since: %d\n", res.PassedOver)
	}
	if res.Gone > 0 {
		p("gone from the topic since the scan (retention): %d\n", res.Gone)
	}
	for _, h := range res.Held {
		p("held: %s in partition %d at offset %d (%s, %s); %d more of that reason wait behind it\n",
			h.Reason, h.Partition, h.Offset, h.At.Format(time.RFC3339), h.Why, h.Behind)
	}
}
