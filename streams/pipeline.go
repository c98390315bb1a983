package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/time/rate"

	"github.com/contactlab/connector/streams/delivery"
)

// Pipeline runs one consumer group through one Sink. Create it with
// NewPipeline and call Run once.
//
// Goroutines and who closes what (every one is the pipeline's):
//
//	fetch      reads Kafka while a slot of MaxInFlight is free; closes fresh.
//	retries    holds records waiting for their back-off (no worker waits);
//	           hands due ones to the batcher.
//	batcher    groups fresh and due records into batches; closes batches
//	           when the dispatch stops.
//	workers    Concurrency of them call Sink.Write; they end when batches
//	           is closed.
//	deadLetter writes rejected records to the dead-letter topic, then
//	           acknowledges them.
//	committer  commits the contiguous finished prefix every CommitInterval.
//	Background the sink's own long-lived work, started through Start.
type Pipeline struct {
	cfg     PipelineConfig
	sink    Sink
	log     *slog.Logger
	m       *Metrics
	tracker *offsetTracker
	sem     chan struct{} // one slot per in-flight record
	dlq     *DeadLetterWriter
	dlqProd *Producer
	c       counters

	retries *retryQueue
	dlqCh   chan deadLetterJob // capacity MaxInFlight: sending never blocks
	idle    chan struct{}      // signalled when the last in-flight record finishes
	// uncommitted counts records fetched and not yet committed. Fetching
	// waits while it is MaxInFlight, so that however long commits fail, a
	// restart repeats at most MaxInFlight records.
	uncommitted atomic.Int64
	// windowFullSince is when fetching began to wait for a commit to free
	// the window (unix nanoseconds), 0 while it fetches.
	windowFullSince atomic.Int64
	// finishing is set while the member finishes a generation's records
	// before it rejoins its group (rejoin.go).
	finishing atomic.Bool
	committed chan struct{} // signalled after a commit released records
	commitNow chan struct{} // asks the committer for a commit before its tick
	finished  chan struct{} // signalled when a record finishes: wakes a committer with nothing to commit
	// work is the context outcomes are taken under; once it ends (forced
	// stop) late outcomes are ignored and their records stay uncommitted.
	work context.Context

	limit *limiter
	// share keeps the pipeline's share of its group current; nil unless
	// cfg.OnShare is set.
	share *shareWatcher
	// stats reads the reader's stats (its queue, its rebalances).
	stats readerStats
	mc    pipelineCounters
	ready Readiness
	// epoch starts the pipeline's clock (clock), on which pauseChanged
	// is when the pipeline was last paused or resumed.
	epoch        time.Time
	pauseChanged atomic.Int64
	h            health
	transport    *kafka.Transport // the health probe's, kept for its connections
	// failLog paces the warning logged per failed attempt.
	failLog   rate.Sometimes
	commitLog rate.Sometimes
}

type deadLetterJob struct {
	r   *Record
	err error
}

// NewPipeline validates cfg and builds a pipeline; it connects nothing yet.
func NewPipeline(cfg PipelineConfig, sink Sink) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, fmt.Errorf("pipeline %q: no sink", cfg.Name)
	}
	cfg = cfg.withDefaults()
	prod, err := NewProducer(ProducerConfig{Brokers: cfg.Brokers, Security: cfg.Security, Compression: cfg.Compression, Acks: cfg.Acks, Topic: cfg.DeadLetterTopic, BatchSize: 100, Linger: time.Millisecond})
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: dead-letter producer: %w", cfg.Name, err)
	}
	return &Pipeline{
		cfg:     cfg,
		sink:    sink,
		log:     cfg.Logger.With("pipeline", cfg.Name),
		m:       cfg.Metrics,
		tracker: newOffsetTracker(),
		sem:     make(chan struct{}, cfg.MaxInFlight),
		dlqProd: prod,
		dlq:     NewDeadLetterWriter(prod, cfg.DeadLetterTopic, cfg.Name, cfg.Metrics),
		retries: newRetryQueue(),
		dlqCh:   make(chan deadLetterJob, cfg.MaxInFlight),
		idle:    make(chan struct{}, 1),

		committed: make(chan struct{}, 1),
		commitNow: make(chan struct{}, 1),
		finished:  make(chan struct{}, 1),

		transport: cfg.Security.Transport(),
		mc:        newPipelineCounters(cfg.Metrics, cfg.Name),
		limit:     newLimiter(cfg.concurrency(), cfg.Metrics.concurrency.WithLabelValues(cfg.Name)),
		epoch:     time.Now(),
		failLog:   rate.Sometimes{Interval: 5 * time.Second},
		commitLog: rate.Sometimes{Interval: 5 * time.Second},
	}, nil
}

// Name is the pipeline's name.
func (p *Pipeline) Name() string { return p.cfg.Name }

// Counts returns the pipeline's totals since start.
func (p *Pipeline) Counts() Counts { return p.c.snapshot() }

// Sink is the sink the pipeline delivers to.
func (p *Pipeline) Sink() Sink { return p.sink }

// Ready reports whether the pipeline is consuming and delivering; when not,
// the reason says why (for /readyz). The sink's parts report on their own
// (Parts).
func (p *Pipeline) Ready() (bool, string) { return p.ready.Ready() }

// clock is the time since the pipeline was made, monotonic.
func (p *Pipeline) clock() time.Duration { return time.Since(p.epoch) }

// pauseOn pauses (reason != "") or resumes the pipeline on the answer to
// r's attempt, unless the attempt was sent before the pipeline was last
// paused or resumed: a 401 to a call made before the credential worked
// again says nothing of it now, nor does a success from before the pause.
// Without this, calls in flight at a resume paused it again at once.
func (p *Pipeline) pauseOn(r *Record, reason string) {
	if int64(r.sentAt) < p.pauseChanged.Load() {
		return
	}
	p.setPaused(reason)
}

func (p *Pipeline) setPaused(reason string) {
	if !p.ready.Pause(reason) {
		return
	}
	p.pauseChanged.Store(int64(p.clock()))
	if reason != "" {
		p.m.paused.WithLabelValues(p.cfg.Name).Set(1)
		p.log.Warn("pipeline paused; retrying until the destination accepts the credential", "reason", reason)
	} else {
		p.m.paused.WithLabelValues(p.cfg.Name).Set(0)
		p.log.Info("pipeline resumed")
	}
}

// Run consumes until ctx is cancelled, then stops in two phases: it stops
// fetching and waits up to ShutdownGrace for every in-flight record's
// outcome (retries go on meanwhile), then stops the sink hard, commits
// what finished and leaves the group. A graceful stop returns nil.
func (p *Pipeline) Run(ctx context.Context) error {
	return p.run(ctx, true)
}

// RunUntilAbort is Run without the graceful part: when ctx ends it drops
// in-flight work and commits nothing more, as a crash would. Tests use it to
// show that an abrupt stop loses nothing.
func (p *Pipeline) RunUntilAbort(ctx context.Context) error {
	return p.run(ctx, false)
}

// newReader makes the group's reader; a non-nil tag marks its member for
// the share watcher.
func (p *Pipeline) newReader(tag []byte) *kafka.Reader {
	cfg := p.cfg
	start := kafka.FirstOffset
	if cfg.StartFromLatest {
		start = kafka.LastOffset
	}
	var balancers []kafka.GroupBalancer // nil: kafka-go's
	if tag != nil {
		balancers = taggedBalancers(tag, p.share.ownedNow, p.share.joining)
	}
	if IsSequential(p.sink) {
		// A sink that keeps an order finishes a generation's records
		// before the member joins the next (rejoin.go).
		balancers = withJoinHook(balancers, p.finishGeneration)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.Brokers,
		Dialer:            cfg.Security.fetchDialer(),
		GroupID:           cfg.GroupID,
		GroupTopics:       cfg.Topics,
		MinBytes:          1,
		MaxBytes:          1 << 20, // per fetch; with QueueCapacity this bounds what the reader buffers
		MaxWait:           fetchMaxWait,
		QueueCapacity:     min(cfg.MaxInFlight, 1000),
		StartOffset:       start,
		CommitInterval:    0, // synchronous: the committer below decides what and when
		HeartbeatInterval: cfg.HeartbeatInterval,
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.SessionTimeout,
		JoinGroupBackoff:  500 * time.Millisecond,
		GroupBalancers:    balancers,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    500 * time.Millisecond,
		ErrorLogger:       kafka.LoggerFunc(func(msg string, args ...any) { p.log.Debug("kafka-go: " + fmt.Sprintf(msg, args...)) }),
	})
	p.stats.setReader(r)
	return r
}

func (p *Pipeline) run(ctx context.Context, graceful bool) error {
	cfg := p.cfg
	var tag []byte
	if cfg.OnShare != nil {
		tag = newMemberTag()
		p.share = newShareWatcher(p, tag)
	}
	p.ready.Running(true)
	defer p.ready.Running(false)
	p.m.paused.WithLabelValues(cfg.Name).Set(0) // exported from the start, not from the first pause
	p.log.Info("pipeline started", "topics", cfg.Topics, "group", cfg.GroupID)

	// fetching ends with ctx, or when something fails; work ends at the
	// forced stop: after ShutdownGrace on a graceful stop, at once on an
	// abort or a failure.
	fetching, stopFetching := context.WithCancel(ctx)
	defer stopFetching()
	grace := cfg.ShutdownGrace
	if !graceful {
		grace = 0
	}
	work, cancelWork := ShutdownContext(ctx, grace)
	defer cancelWork()
	p.work = work
	reader := p.newReader(tag) // after p.work: its joins may read it
	var failMu sync.Mutex
	var failure error
	fail := func(err error) {
		failMu.Lock()
		if failure == nil {
			failure = fmt.Errorf("pipeline %s: %w", cfg.Name, err)
		}
		failMu.Unlock()
		stopFetching()
		cancelWork()
	}
	bg := newBackground(work, fail)
	if err := p.sink.Start(work, bg); err != nil {
		_ = reader.Close()
		_ = p.dlqProd.Close()
		return fmt.Errorf("pipeline %s: start sink: %w", cfg.Name, err)
	}

	fresh := make(chan *Record, min(cfg.MaxInFlight, 256))
	due := make(chan *Record)
	var workers, helpers sync.WaitGroup
	fetchErr := make(chan error, 1)
	go func() { fetchErr <- p.fetch(fetching, reader, fresh) }() // closes fresh
	helpers.Add(2)
	go func() { defer helpers.Done(); p.retries.run(work, due) }()
	go func() {
		defer helpers.Done()
		if cfg.BatchMaxRecords == 1 {
			p.dispatchRecords(work, fresh, due, &workers)
			return
		}
		batches := make(chan []*Record)
		go p.batch(work, fresh, due, batches) // closes batches
		p.dispatchBatches(work, batches, &workers)
	}()
	helpers.Add(1)
	go func() { defer helpers.Done(); p.healthLoop(work) }()
	if p.share != nil {
		helpers.Add(1)
		go func() { defer helpers.Done(); p.share.run(work, &p.stats) }()
	}
	for range deadLetterWriters {
		helpers.Add(1)
		go func() { defer helpers.Done(); p.deadLetterLoop(work) }()
	}
	commitDone := make(chan struct{})
	go func() {
		defer close(commitDone)
		p.commitLoop(work, reader)
	}()

	err := <-fetchErr
	if err != nil {
		fail(err)
	}
	if graceful && work.Err() == nil {
		p.sink.Drain()
		p.awaitIdle(work)
	}
	cancelWork()
	helpers.Wait() // the dispatcher first: it starts workers
	workers.Wait()
	bg.wait()
	if cerr := p.sink.Close(); cerr != nil {
		p.log.Warn("closing the sink failed", "error", cerr)
	}
	<-commitDone
	if graceful {
		// Committing the finished prefix is always safe, even when the grace
		// ran out with records still unfinished.
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p.commit(cctx, reader)
		cancel()
	}
	_ = reader.Close()
	_ = p.dlqProd.Close()
	c := p.Counts()
	p.log.Info("pipeline stopped", "consumed", c.Consumed, "delivered", c.Delivered, "filtered", c.Filtered, "dead_lettered", c.DeadLettered, "in_flight_dropped", c.InFlight)
	failMu.Lock()
	defer failMu.Unlock()
	return failure
}

// awaitIdle is the first phase of a graceful stop: it waits until no record
// is in flight, or work ends (ShutdownGrace passed, or a failure).
func (p *Pipeline) awaitIdle(work context.Context) {
	for p.c.inFlight.Load() > 0 {
		select {
		case <-p.idle:
		case <-work.Done():
			if n := p.c.inFlight.Load(); n > 0 {
				p.log.Warn("shutdown grace passed; dropping in-flight records (they stay uncommitted)", "grace", p.cfg.ShutdownGrace, "in_flight", n)
			}
			return
		}
	}
}

// fetch reads records while there is room in flight, and closes out.
func (p *Pipeline) fetch(ctx context.Context, r *kafka.Reader, out chan<- *Record) error {
	defer close(out)
	retry := delivery.Forever(100*time.Millisecond, 5*time.Second).Start()
	failing := false // a "fetch" problem is on /readyz
	for {
		// The window is of uncommitted records, not only unfinished ones:
		// while commits fail, fetching stops when it is full. Not while
		// the member finishes a generation before it rejoins: no commit
		// can be made then, and what the reader still holds of the
		// generation (at most its queue) must be delivered (rejoin.go).
		for p.uncommitted.Load() >= int64(p.cfg.MaxInFlight) && !p.finishing.Load() {
			p.windowFullSince.CompareAndSwap(0, nanotime())
			select {
			case <-p.committed:
			case <-ctx.Done():
				return nil
			}
		}
		p.windowFullSince.Store(0)
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		m, err := r.FetchMessage(ctx)
		if err != nil {
			<-p.sem
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, errors.ErrUnsupported) {
				return fmt.Errorf("fetch: %w", err)
			}
			p.log.Warn("fetch failed; retrying", "error", err)
			// kafka-go returns an error only after its own attempts (to
			// join the group, to reach a coordinator) failed: a few in a
			// row mean records do not move, whatever the health probe
			// sees (a session timeout the brokers refuse, a group the
			// credentials may not join).
			if retry.Failures() >= fetchFailuresBeforeNotReady-1 &&
				p.ready.Problem("fetch", "reading from Kafka fails: "+describeConnErr(err)) {
				failing = true
				p.log.Error("reading from Kafka keeps failing; not ready until a fetch succeeds", "error", err)
			}
			if retry.Wait(ctx, err) != nil {
				return nil
			}
			continue
		}
		retry.Reset()
		if failing && p.ready.Problem("fetch", "") {
			failing = false
			p.log.Info("reading from Kafka succeeds again")
		}
		if p.share != nil && !p.share.owns(m.Topic, m.Partition) {
			// A partition new to this process: its share grew (or it just
			// joined). Read it before the record can reach the API.
			p.share.learn(ctx, m.Topic, m.Partition)
			if ctx.Err() != nil {
				<-p.sem // stopped meanwhile: the record stays unread
				return nil
			}
		}
		rec := &Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: headersOf(m.Headers), Time: m.Time}
		rec.ticket = p.tracker.add(m.Topic, m.Partition, m.Offset, m.HighWaterMark)
		p.uncommitted.Add(1)
		p.c.consumed.Add(1)
		p.c.inFlight.Add(1)
		p.mc.consumed.Inc()
		p.mc.inFlight.Inc()
		// The record is in flight now: it is handed over even when fetching
		// stops meanwhile (a graceful stop delivers what was fetched), and
		// only a forced stop drops it.
		select {
		case out <- rec:
		case <-p.work.Done():
			return nil
		}
	}
}

// batch groups fresh records and records due for a retry into batches of
// up to BatchMaxRecords, handing a partial batch over BatchLinger after its
// first record. It ends, closing out, when work ends.
func (p *Pipeline) batch(work context.Context, fresh <-chan *Record, due <-chan *Record, out chan<- []*Record) {
	defer close(out)
	maxRecs := p.cfg.BatchMaxRecords
	send := func(b []*Record) bool {
		select {
		case out <- b:
			return true
		case <-work.Done():
			return false
		}
	}
	var cur []*Record
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	add := func(r *Record) bool {
		if len(cur) == 0 {
			timer.Reset(p.cfg.BatchLinger)
		}
		cur = append(cur, r)
		if len(cur) >= maxRecs {
			timer.Stop()
			b := cur
			cur = nil
			return send(b)
		}
		return true
	}
	for {
		var ok bool
		select {
		case r := <-due:
			ok = add(r)
		case r, open := <-fresh:
			if !open {
				fresh = nil
				// No more fresh records: what waits goes now.
				if len(cur) > 0 {
					timer.Stop()
					b := cur
					cur = nil
					ok = send(b)
				} else {
					ok = true
				}
				break
			}
			ok = add(r)
		case <-timer.C:
			ok = true
			if len(cur) > 0 {
				b := cur
				cur = nil
				ok = send(b)
			}
		case <-work.Done():
			return
		}
		if !ok {
			return
		}
	}
}

// done takes one record's outcome; see Done for what each means. It never
// blocks: dead letters and retries go to queues sized for every record in
// flight.
func (p *Pipeline) done(r *Record, err error) {
	if p.work.Err() != nil {
		return // forced stop: the record stays uncommitted
	}
	if errors.Is(err, ErrFiltered) {
		p.c.filtered.Add(1)
		p.mc.filtered.Inc()
		p.ack(r)
		return
	}
	switch delivery.Classify(err) {
	case delivery.Delivered:
		p.h.delivered()
		p.pauseOn(r, "")
		p.c.delivered.Add(1)
		p.mc.delivered.Inc()
		p.ack(r)
	case delivery.DeadLetter:
		if delivery.StatusOf(err) != 0 {
			// The API answered, so the credential works; a record refused
			// before any call (invalid) proves nothing about it.
			p.pauseOn(r, "")
		}
		p.dlqCh <- deadLetterJob{r, err}
	case delivery.Pause:
		p.h.failed(err)
		p.pauseOn(r, err.Error())
		// Paused time does not count against the retry budget: the record
		// itself is fine.
		r.retrySince = time.Time{}
		r.failures++
		p.retryLater(r, p.cfg.Retry.Delay(r.failures, delivery.RetryDelayOf(err)))
	case delivery.Retry:
		if errors.Is(err, context.Canceled) && p.work.Err() != nil {
			return
		}
		p.h.failed(err)
		p.failLog.Do(func() {
			p.log.Warn("delivery attempt failed; retrying (this warning is logged at most every 5 s)", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "attempt", r.Attempts, "error", err)
		})
		if r.retrySince.IsZero() {
			r.retrySince = time.Now()
		}
		r.failures++
		wait := p.cfg.Retry.Delay(r.failures, delivery.RetryDelayOf(err))
		if p.cfg.Retry.Exhausted(r.retrySince, wait) {
			p.dlqCh <- deadLetterJob{r, Reject("retries_exhausted",
				fmt.Errorf("gave up after %d attempts over %s: %w", r.Attempts, time.Since(r.retrySince).Round(time.Millisecond), err))}
			return
		}
		p.retryLater(r, wait)
	}
}

func (p *Pipeline) retryLater(r *Record, wait time.Duration) {
	p.c.retries.Add(1)
	p.mc.retries.Inc()
	p.retries.add(r, time.Now().Add(wait))
}

// deadLetterLoop writes rejected records to the dead-letter topic, retrying
// each write until it succeeds or work ends, and only then acknowledges
// the record.
func (p *Pipeline) deadLetterLoop(work context.Context) {
	for {
		select {
		case j := <-p.dlqCh:
			p.deadLetter(work, j.r, j.err)
		case <-work.Done():
			return
		}
	}
}

func (p *Pipeline) deadLetter(ctx context.Context, r *Record, cause error) {
	retry := delivery.Forever(100*time.Millisecond, 5*time.Second).Start()
	for {
		err := p.dlq.Write(ctx, r, cause)
		if err == nil {
			break
		}
		// A write that keeps failing (a missing topic, no authorisation)
		// stalls the partition: say so on /readyz, naming the topic, once.
		if retry.Failures() >= deadLetterFailuresBeforeNotReady-1 &&
			p.ready.Problem("dead_letter", "writing dead letters fails: "+err.Error()) {
			p.log.Error("dead-letter writes keep failing; the pipeline is not ready until one succeeds", "dead_letter_topic", p.cfg.DeadLetterTopic, "error", err)
		}
		if retry.Wait(ctx, err) != nil {
			return
		}
	}
	if p.ready.Problem("dead_letter", "") {
		p.log.Info("dead-letter writes succeed again", "dead_letter_topic", p.cfg.DeadLetterTopic)
	}
	p.log.Debug("record dead-lettered", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", delivery.ReasonOf(cause), "error", cause)
	p.c.deadLettered.Add(1)
	p.ack(r)
}

// fetchFailuresBeforeNotReady is how many failed fetches in a row make the
// pipeline not ready; each comes after kafka-go's own retries.
const fetchFailuresBeforeNotReady = 3

// deadLetterFailuresBeforeNotReady is how many failed writes in a row make
// the pipeline not ready: one may be a leader moving; three, with back-off
// between them, are not.
const deadLetterFailuresBeforeNotReady = 3

func (p *Pipeline) ack(r *Record) {
	// Records read again below the committed offset: no commit will
	// release them, and they must not hold the window (it would fill, and
	// fetching would wait for a commit that never comes).
	p.release(p.tracker.done(r.ticket))
	signal(p.finished)
	inFlight := p.c.inFlight.Add(-1)
	if inFlight == 0 {
		signal(p.idle)
	}
	// Half the window finished and waiting for the committer: commit now
	// rather than at the tick, so the window never fills at full speed.
	if p.uncommitted.Load()-inFlight >= int64(p.cfg.MaxInFlight/2) {
		signal(p.commitNow)
	}
	p.mc.inFlight.Dec()
	<-p.sem
}

// commitLoop commits finished offsets every CommitInterval until ctx ends.
// While no record is uncommitted and no commit is due (a partition given up
// is retried now and then), it does not tick: it waits for a record to
// finish and commits CommitInterval later, so an idle pipeline's committer
// sleeps.
func (p *Pipeline) commitLoop(ctx context.Context, r *kafka.Reader) {
	t := time.NewTicker(p.cfg.CommitInterval)
	defer t.Stop()
	var last time.Time
	for {
		// Records count as uncommitted from their fetch, before they can
		// finish, and every finish signals: none can finish unseen.
		if p.uncommitted.Load() == 0 && len(p.tracker.pending()) == 0 {
			t.Stop()
			select {
			case <-p.finished:
			case <-ctx.Done():
				return
			}
			t.Reset(p.cfg.CommitInterval)
		}
		select {
		case <-t.C:
		case <-p.commitNow:
			// At most one early commit per tenth of the interval: commits
			// that fail (a broker outage) must not be hammered.
			if time.Since(last) < p.cfg.CommitInterval/10 {
				continue
			}
		case <-ctx.Done():
			return
		}
		last = time.Now()
		p.commit(ctx, r)
	}
}

// signal wakes the one waiter of ch, if it is not already woken.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (p *Pipeline) commit(ctx context.Context, r *kafka.Reader) {
	points := p.tracker.pending()
	if len(points) == 0 {
		return
	}
	points, behind, err := p.aheadOfGroup(ctx, points)
	if err != nil {
		p.m.commits.WithLabelValues(p.cfg.Name, "error").Inc()
		if ctx.Err() == nil {
			p.commitLog.Do(func() {
				p.log.Warn("reading the group's offsets before a commit failed; will retry (logged at most every 5 s)", "error", err, "uncommitted", p.uncommitted.Load())
			})
		}
		return
	}
	if len(behind) > 0 {
		// The group is past these points already (another member took
		// the partition and went on): committing them would move its
		// offset back. Their records are covered, so they leave the window.
		p.m.commits.WithLabelValues(p.cfg.Name, "behind").Inc()
		p.release(p.tracker.markCommitted(behind))
	}
	if len(points) == 0 {
		return
	}
	msgs := make([]kafka.Message, len(points))
	for i, pt := range points {
		// kafka-go commits Offset+1.
		msgs[i] = kafka.Message{Topic: pt.topic, Partition: pt.partition, Offset: pt.offset - 1}
	}
	// Partitions whose commits failed lately are committed on their own,
	// after the others, so that one refused partition does not hold the
	// rest.
	if p.tracker.anySuspect(points) {
		p.commitEach(ctx, r, points, msgs)
		return
	}
	if err := r.CommitMessages(ctx, msgs...); err != nil {
		if ctx.Err() == nil && p.commitEach(ctx, r, points, msgs) {
			return
		}
		p.m.commits.WithLabelValues(p.cfg.Name, "error").Inc()
		if ctx.Err() == nil {
			p.commitLog.Do(func() {
				p.log.Warn("offset commit failed; will retry (logged at most every 5 s)", "error", err, "uncommitted", p.uncommitted.Load())
			})
		}
		return
	}
	p.m.commits.WithLabelValues(p.cfg.Name, "ok").Inc()
	p.release(p.tracker.markCommitted(points))
}

// release takes n committed records out of the uncommitted window.
func (p *Pipeline) release(n int64) {
	if n > 0 {
		p.uncommitted.Add(-n)
		signal(p.committed)
	}
}

// aheadOfGroup splits points into those ahead of the group's committed
// offsets, to commit, and those at or behind them.
//
// kafka-go's Reader neither says which partitions a rebalance took away
// nor ties a commit to the generation it was meant for: a commit asked for
// while it rejoins is sent in the next generation. So a member that lost a
// partition (it froze past its session, or a record of it finished long
// after a rebalance) would commit its old position over the new owner's
// progress. The new owner, believing its own commit stands, would not
// commit again once idle: the group would show lag for records long
// delivered, and repeat them all at the next rebalance. Reading the
// group's offsets first keeps commits from moving back; one that races
// with the new owner's commit (milliseconds apart) can still, and is
// undone by its next commit.
func (p *Pipeline) aheadOfGroup(ctx context.Context, points []commitPoint) (ahead, behind []commitPoint, err error) {
	parts := map[string][]int{}
	for _, pt := range points {
		parts[pt.topic] = append(parts[pt.topic], pt.partition)
	}
	cl := &kafka.Client{Addr: kafka.TCP(p.cfg.Brokers...), Timeout: 5 * time.Second, Transport: p.transport}
	resp, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: p.cfg.GroupID, Topics: parts})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return nil, nil, fmt.Errorf("group %s offsets: %w", p.cfg.GroupID, err)
	}
	group := map[topicPartition]int64{}
	for t, ps := range resp.Topics {
		for _, pa := range ps {
			if pa.Error == nil {
				group[topicPartition{t, pa.Partition}] = pa.CommittedOffset
			}
		}
	}
	for _, pt := range points {
		if g, ok := group[topicPartition{pt.topic, pt.partition}]; ok && g >= pt.offset {
			behind = append(behind, pt)
		} else {
			ahead = append(ahead, pt)
		}
	}
	return ahead, behind, nil
}

// deadLetterWriters is how many dead-letter writes may be in flight: a few,
// so that a burst of rejections does not wait on one produce at a time.
const deadLetterWriters = 4

// commitEach commits the points one by one after a commit of all of them
// failed, so that one partition the group will not take a commit for (it
// moved to another member in a rebalance) does not hold the others, and
// with them the window of uncommitted records, for ever. A point that
// keeps failing while others succeed is given up: its partition is
// someone else's now. When every point fails and the brokers do not answer
// the health probe either (an outage), nothing is given up and it reports
// false.
func (p *Pipeline) commitEach(ctx context.Context, r *kafka.Reader, points []commitPoint, msgs []kafka.Message) bool {
	var ok, failed []commitPoint
	outage := false
	var good []kafka.Message
	var goodPts []commitPoint
	for i, pt := range points {
		if !p.tracker.suspect(pt) {
			good, goodPts = append(good, msgs[i]), append(goodPts, pt)
		}
	}
	if len(good) > 0 && len(good) < len(points) && r.CommitMessages(ctx, good...) == nil {
		ok = goodPts
	}
	for i, pt := range points {
		if len(ok) > 0 && !p.tracker.suspect(pt) {
			continue // committed with the others
		}
		// A partition given up is tried again only now and then: each
		// refused commit costs the client's own retries.
		if n := p.tracker.failures(pt); n >= commitFailuresBeforeGivingUp && n%50 != 0 {
			p.tracker.commitFailed(pt)
			continue
		}
		if err := r.CommitMessages(ctx, msgs[i]); err == nil {
			ok = append(ok, pt)
		} else {
			failed = append(failed, pt)
			outage = outage || isOutage(err)
		}
	}
	if len(ok) == 0 && (outage || !p.h.brokersAnswer()) {
		return false // an outage: keep the window closed
	}
	if len(ok) > 0 {
		p.m.commits.WithLabelValues(p.cfg.Name, "ok").Inc()
	}
	released := p.tracker.markCommitted(ok)
	for _, pt := range failed {
		if p.tracker.commitFailed(pt) == commitFailuresBeforeGivingUp {
			p.log.Warn("offset commits of a partition keep failing while others succeed; giving it up (it belongs to another member now)",
				"topic", pt.topic, "partition", pt.partition, "offset", pt.offset)
		}
	}
	// Records of a given-up partition leave the window: they cannot be
	// committed here, and must not stop fetching for the others.
	released += p.tracker.releaseGivenUp(commitFailuresBeforeGivingUp)
	if released > 0 {
		p.uncommitted.Add(-released)
		signal(p.committed)
	}
	return true
}

// commitFailuresBeforeGivingUp is how many commit rounds a partition's
// point may fail while others succeed.
const commitFailuresBeforeGivingUp = 1

// isOutage reports a commit failure that waiting fixes (the coordinator is
// away, the network is down), as opposed to a refusal of this member's
// commit (its generation moved on).
func isOutage(err error) bool {
	var ke kafka.Error
	if errors.As(err, &ke) {
		switch ke {
		case kafka.GroupCoordinatorNotAvailable, kafka.NotCoordinatorForGroup, kafka.RequestTimedOut, kafka.GroupLoadInProgress:
			return true
		}
		return false
	}
	return true // not a broker's answer: the network
}
