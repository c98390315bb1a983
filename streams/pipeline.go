package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/kafka-go"
)

// Sink delivers batches of records to a destination. It must be safe for
// concurrent use: the runtime calls Write from PipelineConfig.Concurrency
// goroutines at once.
type Sink interface {
	// Write delivers batch. It returns nil when every record was delivered, a
	// *BatchError for per-record outcomes, or any other error for the whole
	// batch. See the package doc for what the runtime does with each error.
	Write(ctx context.Context, batch []*Record) error
}

// Pipeline runs one consumer group through one Sink. Create it with
// NewPipeline and call Run once.
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

	ready Readiness
}

// NewPipeline validates cfg and builds a pipeline; it connects nothing yet.
func NewPipeline(cfg PipelineConfig, sink Sink) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	prod, err := NewProducer(ProducerConfig{Brokers: cfg.Brokers, Topic: cfg.DeadLetterTopic, BatchSize: 100, Linger: time.Millisecond})
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
	}, nil
}

// Name is the pipeline's name.
func (p *Pipeline) Name() string { return p.cfg.Name }

// Counts returns the pipeline's totals since start.
func (p *Pipeline) Counts() Counts { return p.c.snapshot() }

// Ready reports whether the pipeline is consuming and delivering; when not,
// the reason says why (for /readyz).
func (p *Pipeline) Ready() (bool, string) { return p.ready.Ready() }

func (p *Pipeline) setPaused(reason string) {
	if !p.ready.Pause(reason) {
		return
	}
	if reason != "" {
		p.m.paused.WithLabelValues(p.cfg.Name).Set(1)
		p.log.Warn("pipeline paused; retrying until the destination accepts the credential", "reason", reason)
	} else {
		p.m.paused.WithLabelValues(p.cfg.Name).Set(0)
		p.log.Info("pipeline resumed")
	}
}

// Run consumes until ctx is cancelled, then stops gracefully: it stops
// fetching, waits up to ShutdownGrace for in-flight records, commits what
// finished and leaves the group. A graceful stop returns nil.
func (p *Pipeline) Run(ctx context.Context) error {
	return p.run(ctx, true)
}

// RunUntilAbort is Run without the graceful part: when ctx ends it drops
// in-flight work and commits nothing more, as a crash would. Tests use it to
// show that an abrupt stop loses nothing.
func (p *Pipeline) RunUntilAbort(ctx context.Context) error {
	return p.run(ctx, false)
}

func (p *Pipeline) run(ctx context.Context, graceful bool) error {
	cfg := p.cfg
	start := kafka.FirstOffset
	if cfg.StartFromLatest {
		start = kafka.LastOffset
	}
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.Brokers,
		GroupID:           cfg.GroupID,
		GroupTopics:       cfg.Topics,
		MinBytes:          1,
		MaxBytes:          1 << 20, // per fetch; with QueueCapacity this bounds what the reader buffers
		MaxWait:           250 * time.Millisecond,
		QueueCapacity:     min(cfg.MaxInFlight, 1000),
		StartOffset:       start,
		CommitInterval:    0, // synchronous: the committer below decides what and when
		HeartbeatInterval: cfg.HeartbeatInterval,
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.SessionTimeout,
		JoinGroupBackoff:  500 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    500 * time.Millisecond,
		ErrorLogger:       kafka.LoggerFunc(func(msg string, args ...any) { p.log.Debug("kafka-go: " + fmt.Sprintf(msg, args...)) }),
	})
	p.ready.Running(true)
	defer p.ready.Running(false)
	p.m.paused.WithLabelValues(cfg.Name).Set(0) // exported from the start, not from the first pause
	p.log.Info("pipeline started", "topics", cfg.Topics, "group", cfg.GroupID)

	// work ends when the hard deadline passes: after ShutdownGrace on a
	// graceful stop, at once on an abort.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
		case <-finished:
			return
		}
		if !graceful {
			cancelWork()
			return
		}
		t := time.NewTimer(cfg.ShutdownGrace)
		defer t.Stop()
		select {
		case <-t.C:
			p.log.Warn("shutdown grace passed; dropping in-flight records (they stay uncommitted)", "grace", cfg.ShutdownGrace)
			cancelWork()
		case <-finished:
		}
	}()

	recs := make(chan *Record, min(cfg.MaxInFlight, 256))
	batches := make(chan []*Record)
	var wg sync.WaitGroup
	fetchErr := make(chan error, 1)
	go func() { fetchErr <- p.fetch(ctx, reader, recs) }() // closes recs
	go p.batch(recs, batches)                              // closes batches
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				p.deliver(work, b)
			}
		}()
	}
	commitDone := make(chan struct{})
	committerStop := make(chan struct{})
	go func() {
		defer close(commitDone)
		p.commitLoop(work, reader, committerStop)
	}()

	wg.Wait()
	err := <-fetchErr
	close(committerStop)
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
	p.log.Info("pipeline stopped", "consumed", c.Consumed, "delivered", c.Delivered, "dead_lettered", c.DeadLettered, "in_flight_dropped", c.InFlight)
	return err
}

// fetch reads records while there is room in flight, and closes out.
func (p *Pipeline) fetch(ctx context.Context, r *kafka.Reader, out chan<- *Record) error {
	defer close(out)
	bo := backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond), backoff.WithMaxInterval(5*time.Second), backoff.WithMaxElapsedTime(0))
	for {
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
				return fmt.Errorf("pipeline %s: fetch: %w", p.cfg.Name, err)
			}
			p.log.Warn("fetch failed; retrying", "error", err)
			if !Sleep(ctx, bo.NextBackOff()) {
				return nil
			}
			continue
		}
		bo.Reset()
		rec := &Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: m.Headers, Time: m.Time}
		rec.ticket = p.tracker.add(m.Topic, m.Partition, m.Offset, m.HighWaterMark)
		p.c.consumed.Add(1)
		p.c.inFlight.Add(1)
		p.m.consumed.WithLabelValues(p.cfg.Name).Inc()
		p.m.inFlight.WithLabelValues(p.cfg.Name).Inc()
		select {
		case out <- rec:
		case <-ctx.Done():
			return nil
		}
	}
}

// batch groups records into batches of up to BatchMaxRecords, handing a
// partial batch over BatchLinger after its first record.
func (p *Pipeline) batch(in <-chan *Record, out chan<- []*Record) {
	defer close(out)
	max := p.cfg.BatchMaxRecords
	if max == 1 {
		for r := range in {
			out <- []*Record{r}
		}
		return
	}
	var cur []*Record
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case r, ok := <-in:
			if !ok {
				if len(cur) > 0 {
					out <- cur
				}
				return
			}
			if len(cur) == 0 {
				timer.Reset(p.cfg.BatchLinger)
			}
			cur = append(cur, r)
			if len(cur) >= max {
				timer.Stop()
				out <- cur
				cur = nil
			}
		case <-timer.C:
			if len(cur) > 0 {
				out <- cur
				cur = nil
			}
		}
	}
}

// deliver runs one batch to completion: every record ends delivered or
// dead-lettered, unless ctx ends first, in which case the unfinished records
// are left uncommitted (they will be read again).
func (p *Pipeline) deliver(ctx context.Context, batch []*Record) {
	pending := batch
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(p.cfg.Retry.InitialInterval),
		backoff.WithMaxInterval(p.cfg.Retry.MaxInterval),
		backoff.WithMaxElapsedTime(0),
	)
	var retryingFor time.Duration // time spent on retryable (not auth) failures
	for len(pending) > 0 {
		if ctx.Err() != nil {
			return
		}
		for _, r := range pending {
			r.Attempts++
		}
		err := p.sink.Write(ctx, pending)
		errs := splitErr(err, len(pending))
		var retry []*Record
		var wait time.Duration
		paused, progressed := "", false
		for i, r := range pending {
			e := errs[i]
			switch classify(e) {
			case actDelivered:
				progressed = true
				p.c.delivered.Add(1)
				p.m.delivered.WithLabelValues(p.cfg.Name).Inc()
				p.ack(r)
			case actDeadLetter:
				progressed = true
				p.deadLetter(ctx, r, e)
			case actPause:
				paused = e.Error()
				retry = append(retry, r)
			case actRetry:
				if ctx.Err() != nil && errors.Is(e, context.Canceled) {
					return
				}
				retry = append(retry, r)
				wait = max(wait, RetryDelayOf(e))
			}
		}
		if paused != "" {
			p.setPaused(paused)
		} else if progressed {
			p.setPaused("")
		}
		if len(retry) == 0 {
			return
		}
		next := bo.NextBackOff()
		if paused == "" {
			retryingFor += next
			if p.cfg.Retry.MaxElapsed > 0 && retryingFor > p.cfg.Retry.MaxElapsed {
				for _, r := range retry {
					p.deadLetter(ctx, r, Reject("retries_exhausted", fmt.Errorf("gave up after %d attempts over %s: %w", r.Attempts, p.cfg.Retry.MaxElapsed, firstErrFor(pending, errs, r))))
				}
				return
			}
		}
		p.c.retries.Add(int64(len(retry)))
		p.m.retries.WithLabelValues(p.cfg.Name).Add(float64(len(retry)))
		if wait > next {
			next = wait
		}
		if !Sleep(ctx, next) {
			return
		}
		pending = retry
	}
}

func firstErrFor(batch []*Record, errs []error, r *Record) error {
	for i, b := range batch {
		if b == r {
			return errs[i]
		}
	}
	return errors.New("unknown error")
}

// splitErr turns a Write result into one error per record.
func splitErr(err error, n int) []error {
	errs := make([]error, n)
	if err == nil {
		return errs
	}
	var be *BatchError
	if errors.As(err, &be) && len(be.Errs) == n {
		return be.Errs
	}
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// deadLetter writes r to the dead-letter topic, retrying the write until it
// succeeds or ctx ends, and only then acknowledges r.
func (p *Pipeline) deadLetter(ctx context.Context, r *Record, cause error) {
	bo := backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond), backoff.WithMaxInterval(5*time.Second), backoff.WithMaxElapsedTime(0))
	for {
		err := p.dlq.Write(ctx, r, cause)
		if err == nil {
			break
		}
		p.log.Error("dead-letter write failed; retrying", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "error", err)
		if !Sleep(ctx, bo.NextBackOff()) {
			return
		}
	}
	p.log.Debug("record dead-lettered", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", reasonOf(cause), "error", cause)
	p.c.deadLettered.Add(1)
	p.ack(r)
}

func (p *Pipeline) ack(r *Record) {
	p.tracker.done(r.ticket)
	p.c.inFlight.Add(-1)
	p.m.inFlight.WithLabelValues(p.cfg.Name).Dec()
	<-p.sem
}

// commitLoop commits finished offsets every CommitInterval until stop.
func (p *Pipeline) commitLoop(ctx context.Context, r *kafka.Reader, stop <-chan struct{}) {
	t := time.NewTicker(p.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.commit(ctx, r)
		case <-stop:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (p *Pipeline) commit(ctx context.Context, r *kafka.Reader) {
	points := p.tracker.pending()
	if len(points) > 0 {
		msgs := make([]kafka.Message, len(points))
		for i, pt := range points {
			// kafka-go commits Offset+1.
			msgs[i] = kafka.Message{Topic: pt.topic, Partition: pt.partition, Offset: pt.offset - 1}
		}
		if err := r.CommitMessages(ctx, msgs...); err != nil {
			p.m.commits.WithLabelValues(p.cfg.Name, "error").Inc()
			if ctx.Err() == nil {
				p.log.Warn("offset commit failed; will retry", "error", err)
			}
		} else {
			p.m.commits.WithLabelValues(p.cfg.Name, "ok").Inc()
			p.tracker.markCommitted(points)
		}
	}
	lag := p.tracker.lag()
	p.c.lag.Store(lag)
	p.m.lag.WithLabelValues(p.cfg.Name).Set(float64(lag))
}
