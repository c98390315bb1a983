package contacthub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/contactlab/connector/streams"
)

// UpdateStreamSourceConfig configures an UpdateStreamSource.
type UpdateStreamSourceConfig struct {
	// Source is the source's own settings.
	Source SourceOptions
	// Kafka says how to reach the brokers, and through its session timeout
	// how long a dead leader keeps the lead.
	Kafka KafkaOptions
	// Security is how the source's Kafka clients connect (TLS, SASL).
	Security streams.Security
	Client   *Client
	// Metrics are shared by the sources of a process (NewSourceMetrics);
	// nil keeps them unexported.
	Metrics *SourceMetrics
	// Streams counts the records produced, by topic role; nil for none.
	Streams *streams.Metrics
	Logger  *slog.Logger
}

// UpdateStreamSource republishes the Contacthub update stream to Kafka:
// customer changes to the customers topic keyed by customer id, event
// changes to the events topic keyed by the event's customer id, each as a
// schemas.UpdateEnvelope with the offset, operation and entity type in
// headers, and a tombstone after a customer's DELETE.
//
// Of the replicas that run it, one tails the stream at a time, elected
// through Kafka (streams.LeaderElection on the offsets topic); the others
// stand by. The leader reads pages of up to PageSize updates, one page ahead
// of the one being produced, produces each page in one call that returns
// once Kafka acknowledged every record (acks=all), and only then stores the
// page's last offset in the offsets topic. Pages are produced one after the
// other, so the records of a key are in offset order, and a crash repeats at
// most the page in flight, with the same offsets (see positions):
// consumers de-duplicate by HeaderOffset.
//
// It is a Unit of the service: Run, Name, Ready, Counts.
type UpdateStreamSource struct {
	cfg        SourceOptions
	brokers    []string
	security   streams.Security
	partitions int
	client     *Client
	log        *slog.Logger
	records    recordBuilder
	election   *streams.LeaderElection
	gauges     *sourceGauges
	streams    *streams.Metrics
	progress   *progressTracker
	start      startPosition
	// grace is how long the page in flight may take to finish when the lead
	// ends: well within the session timeout, after which a new leader may
	// start.
	grace time.Duration

	ready     streams.Readiness
	consumed  atomic.Int64
	published atomic.Int64
	skipped   atomic.Int64
	// deadLettered counts the invalid updates (among the skipped) written
	// to the dead-letter topic.
	deadLettered atomic.Int64
	pageHook     func(ctx context.Context, lastOffset int64)
}

// NewUpdateStreamSource builds the source; it connects to nothing yet. Its
// errors name the key at fault; the caller adds which source it is.
func NewUpdateStreamSource(cfg UpdateStreamSourceConfig) (*UpdateStreamSource, error) {
	sc := cfg.Source
	if cfg.Client == nil {
		return nil, errors.New("a Contacthub client is needed")
	}
	if sc.PageSize < 1 || sc.PageSize > 4000 {
		return nil, fmt.Errorf("page_size: %d is not in 1..4000 (the API's limit)", sc.PageSize)
	}
	if sc.MaxPageBytes < MinPageBytes {
		return nil, fmt.Errorf("max_page_bytes: %d is below %d", sc.MaxPageBytes, MinPageBytes)
	}
	start, err := parseStart(sc.Start)
	if err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics, _ = NewSourceMetrics(nil)
	}
	log := cfg.Logger.With("source", sc.Name)
	election, err := streams.NewLeaderElection(streams.LeaderElectionConfig{
		Name:              sc.Name,
		Brokers:           cfg.Kafka.Brokers,
		Security:          cfg.Security,
		GroupID:           sc.GroupID,
		Topic:             sc.OffsetsTopic,
		SessionTimeout:    cfg.Kafka.SessionTimeout,
		HeartbeatInterval: cfg.Kafka.HeartbeatInterval,
		Logger:            log,
	})
	if err != nil {
		return nil, err
	}
	session := cfg.Kafka.SessionTimeout
	if session == 0 {
		session = 10 * time.Second
	}
	gauges := cfg.Metrics.forSource(sc.Name)
	records := newRecordBuilder(sc.CustomersTopic, sc.EventsTopic, cfg.Client.Workspace(), sc.NodeID, sc.Tombstones)
	records.deadLetterTopic, records.source = sc.DeadLetterTopic, sc.Name
	if sc.Envelope == EnvelopeCloudEvents {
		records.publishCloudEvents()
	}
	return &UpdateStreamSource{
		cfg:        sc,
		brokers:    cfg.Kafka.Brokers,
		security:   cfg.Security,
		partitions: cfg.Kafka.Partitions,
		client:     cfg.Client,
		log:        log,
		records:    records,
		election:   election,
		gauges:     gauges,
		streams:    cfg.Streams,
		progress:   newProgressTracker(gauges),
		start:      start,
		grace:      session / 2,
	}, nil
}

// startPosition is where a source with no stored offset starts.
type startPosition struct {
	latest bool
	millis int64 // a time to start from; 0 with latest false: the earliest
}

func parseStart(s string) (startPosition, error) {
	switch s {
	case "", "earliest":
		return startPosition{}, nil
	case "latest":
		return startPosition{latest: true}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return startPosition{}, fmt.Errorf("%q is not earliest, latest or an RFC 3339 time", s)
	}
	return startPosition{millis: t.UnixMilli()}, nil
}

// Name is the source's name.
func (s *UpdateStreamSource) Name() string { return s.cfg.Name }

// Topics are the topics the source writes: the customers topic is compacted
// (the latest change of each customer is what it keeps), the offsets topic
// too, with one partition, since the election happens on it.
func (s *UpdateStreamSource) Topics() []streams.TopicSpec {
	return []streams.TopicSpec{
		{Name: s.cfg.CustomersTopic, Partitions: s.partitions, Compacted: true},
		{Name: s.cfg.EventsTopic, Partitions: s.partitions},
		{Name: s.cfg.OffsetsTopic, Partitions: 1, Compacted: true},
		{Name: s.cfg.DeadLetterTopic, Partitions: s.partitions},
	}
}

// OnPageProduced sets a function called after Kafka acknowledged a page and
// before its offset is stored: the worst moment to crash, which tests use.
// Set it before Run.
func (s *UpdateStreamSource) OnPageProduced(fn func(ctx context.Context, lastOffset int64)) {
	s.pageHook = fn
}

// State is where this replica stands in the election.
func (s *UpdateStreamSource) State() streams.LeaderState { return s.election.State() }

// Ready reports whether the source works: tailing ("active") or standing by
// ("standby"), both ready. It is not ready while it joins the election or
// while Contacthub refuses its requests (a 4xx, or a page that does not
// decode: the reason says which).
func (s *UpdateStreamSource) Ready() (bool, string) {
	if ok, why := s.ready.Ready(); !ok {
		return false, why
	}
	switch st := s.election.State(); st {
	case streams.LeaderActive:
		return true, "active"
	case streams.LeaderStandby:
		return true, "standby: another replica tails the stream"
	default:
		if err := s.election.JoinError(); err != nil {
			return false, "joining the leader election: " + err.Error()
		}
		return false, "joining the leader election"
	}
}

// Counts are the source's totals since start: updates read (Consumed, from
// when their publishing begins) and published (Delivered), those read but
// not yet published (InFlight, which keeps what an abrupt stop dropped), and
// the lag in offsets.
func (s *UpdateStreamSource) Counts() streams.Counts {
	c, p, k := s.consumed.Load(), s.published.Load(), s.skipped.Load()
	return streams.Counts{Consumed: c, Delivered: p, DeadLettered: s.deadLettered.Load(), InFlight: max(0, c-p-k), Lag: s.Progress().Lag()}
}

// Progress is where the source stands in the stream.
func (s *UpdateStreamSource) Progress() Progress {
	p := s.progress.snapshot(time.Now())
	p.State = s.election.State().String()
	return p
}

func (s *UpdateStreamSource) setPaused(reason string) {
	if !s.ready.Pause(reason) {
		return
	}
	if reason != "" {
		s.gauges.paused.Set(1)
		s.log.Warn("source paused: Contacthub refuses its requests; retrying with back-off until it accepts them", "reason", reason)
	} else {
		s.gauges.paused.Set(0)
		s.log.Info("source resumed")
	}
}

// Run takes part in the election until ctx ends and tails the stream while
// it leads. When ctx ends, the page in flight is finished and its offset
// stored (within half the session timeout), then the source leaves the
// group, so a standby takes over at once. A graceful stop returns nil.
func (s *UpdateStreamSource) Run(ctx context.Context) error { return s.run(ctx, true) }

// RunUntilAbort is Run without the graceful part: when ctx ends, the produce
// in flight is abandoned, no offset is stored and the group is not left, as
// in a crash. Tests use it to show that an abrupt stop loses nothing.
func (s *UpdateStreamSource) RunUntilAbort(ctx context.Context) error { return s.run(ctx, false) }

func (s *UpdateStreamSource) run(ctx context.Context, graceful bool) error {
	prod, err := streams.NewProducer(streams.ProducerConfig{Brokers: s.brokers, Security: s.security, Linger: time.Millisecond})
	if err != nil {
		return fmt.Errorf("source %s: %w", s.cfg.Name, err)
	}
	defer prod.Close()
	offsets, err := NewSecureOffsetStore(s.brokers, s.security, s.cfg.OffsetsTopic, s.cfg.Name, s.client.Workspace())
	if err != nil {
		return fmt.Errorf("source %s: %w", s.cfg.Name, err)
	}
	defer offsets.Close()
	s.ready.Running(true)
	defer s.ready.Running(false)
	s.log.Info("source started; joining the leader election", "group", s.cfg.GroupID, "topic", s.cfg.OffsetsTopic)
	lead := func(lead context.Context) error { return s.tail(ctx, lead, prod, offsets, graceful) }
	if graceful {
		err = s.election.Run(ctx, lead)
	} else {
		err = s.election.RunUntilAbort(ctx, lead)
	}
	c := s.Counts()
	s.log.Info("source stopped", "read", c.Consumed, "published", c.Delivered, "dropped_in_flight", c.InFlight)
	if err != nil {
		return fmt.Errorf("source %s: %w", s.cfg.Name, err)
	}
	return nil
}

// tail runs while this replica leads (lead ends with the lead; run ends
// with Run): it resumes from the stored offset, fetches pages in one
// goroutine and publishes them in this one.
func (s *UpdateStreamSource) tail(run, lead context.Context, prod *streams.Producer, offsets *OffsetStore, graceful bool) error {
	s.gauges.active.Set(1)
	defer s.gauges.active.Set(0)
	// work is what produce and store run under. It ends grace after the
	// lead, so that the page in flight is finished and stored rather than
	// repeated by the next leader; at once when RunUntilAbort is stopped.
	work, cancelWork := streams.ShutdownContext(lead, s.grace)
	defer cancelWork()
	if !graceful {
		stop := context.AfterFunc(run, cancelWork)
		defer stop()
	}

	q, err := s.resume(lead, offsets)
	if err != nil {
		return s.endOfLead(lead, err)
	}
	s.progress.begin(q.Offset, time.Now())
	s.pollLast(lead)
	s.log.Info("tailing the update stream", "after_offset", q.Offset, "timestamp", q.Timestamp, "progress", s.Progress().String())

	fetchCtx, cancelFetch := context.WithCancel(lead)
	defer cancelFetch()
	// One page is fetched while the previous one is produced: the offset
	// store still moves only after acknowledgement, page by page.
	pages := make(chan *pageRecords, 1)
	fetchErr := make(chan error, 1)
	go func() { fetchErr <- s.fetchLoop(fetchCtx, q, pages) }()
	for pr := range pages {
		if lead.Err() != nil {
			break // the lead is over: finish nothing new
		}
		// A page counts as read when its publishing begins: one fetched
		// ahead and left at the end of the lead is read again by the next
		// leader, and was never in flight here.
		s.consumed.Add(int64(pr.updates))
		if err = s.publish(work, prod, offsets, pr); err != nil {
			break
		}
	}
	cancelFetch()
	for range pages {
		// Drained so that the fetcher, blocked on a send, can return.
	}
	if ferr := <-fetchErr; err == nil {
		err = ferr
	}
	return s.endOfLead(lead, err)
}

// endOfLead turns what ended a lead into tail's result: the lead ending is
// not a failure.
func (s *UpdateStreamSource) endOfLead(lead context.Context, err error) error {
	if lead.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		s.log.Info("stopped tailing the update stream", "progress", s.Progress().String())
		return nil
	}
	return err
}

// publish produces a page, waits for Kafka's acknowledgement of every
// record, then stores the page's last offset. It fails only when ctx ends:
// Kafka errors are retried with back-off (the whole page again, which
// repeats some records but never reorders a key, as the next page waits).
func (s *UpdateStreamSource) publish(ctx context.Context, prod *streams.Producer, offsets *OffsetStore, pr *pageRecords) error {
	if len(pr.msgs) > 0 {
		err := s.retry(ctx, false, func() string { return fmt.Sprintf("produce offsets %d..%d", pr.after+1, pr.last) },
			func() error { return prod.Produce(ctx, pr.msgs...) })
		if err != nil {
			return err
		}
	}
	pr.release()
	if s.pageHook != nil {
		s.pageHook(ctx, pr.last)
	}
	err := s.retry(ctx, false, func() string { return fmt.Sprintf("store offset %d", pr.last) },
		func() error { return offsets.Store(ctx, pr.last) })
	if err != nil {
		return err
	}
	s.published.Add(int64(pr.published))
	s.gauges.published.Add(float64(pr.published))
	s.deadLettered.Add(int64(pr.deadLettered))
	for reason, n := range pr.skipped {
		s.skipped.Add(int64(n))
		s.gauges.skip(reason, n)
	}
	if s.streams != nil {
		s.streams.Produced(s.cfg.Name, "customers", pr.customers)
		s.streams.Produced(s.cfg.Name, "events", pr.events)
		s.streams.Produced(s.cfg.Name, "dead_letters", pr.deadLettered)
	}
	now := time.Now()
	s.progress.advance(pr.last, now)
	switch catchingUp, caughtUp := s.progress.logDue(now, progressLogEvery, pr.full); {
	case catchingUp:
		p := s.Progress()
		s.log.Info("catching up with the update stream", "percent", fmt.Sprintf("%.1f", p.Percent), "rate_per_s", int64(p.Rate),
			"eta", p.ETA.Round(time.Second).String(), "offset", p.Current, "last_offset", p.Last)
	case caughtUp:
		s.log.Info("caught up with the update stream", "offset", pr.last)
	}
	return nil
}

// progressLogEvery is how often a catching-up source logs its progress.
const progressLogEvery = 5 * time.Second
