package ups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// RequestSender is the unit that sends a sink's requests: it takes each
// request from the Batcher when the Pacer allows, posts it, and reports the
// answer back: an accepted request's job goes to the JobFollower; a 429
// slows the Pacer and sends the same request again; a 413 splits it; a 400
// bisects it until the records the API refuses are alone, and rejects
// those; any other failure hands the records back to the runtime, which
// retries them with back-off.
type RequestSender struct {
	name     string
	coll     schemas.Collection
	senders  int
	drain    time.Duration
	client   *Client
	batcher  *Batcher
	follower *JobFollower
	log      *slog.Logger
	m        *Metrics
	maxRecs  int
	maxBytes int
	running  atomic.Bool
}

// Name implements the service's Unit.
func (s *RequestSender) Name() string { return s.name }

// Ready implements the service's Unit. A credential failure is reported by
// the pipeline, which pauses on it.
func (s *RequestSender) Ready() (bool, string) {
	if !s.running.Load() {
		return false, "not running"
	}
	return true, ""
}

// Run sends requests until ctx ends and then, while Write calls still wait
// for their records, for up to the drain time, so that a graceful stop
// lets what is in flight finish.
func (s *RequestSender) Run(ctx context.Context) error {
	s.running.Store(true)
	defer s.running.Store(false)
	work, stop := drainContext(ctx, s.batcher, s.drain)
	defer stop()
	var wg sync.WaitGroup
	for range s.senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(work)
		}()
	}
	wg.Wait()
	return nil
}

func (s *RequestSender) loop(ctx context.Context) {
	for ctx.Err() == nil {
		if err := s.waitReady(ctx); err != nil {
			return
		}
		req, err := s.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// Compressing into memory does not fail; should it, do not spin.
			s.log.Error("building a request failed", "error", err)
			streams.Sleep(ctx, time.Second)
			continue
		}
		if req != nil {
			s.send(ctx, req)
		}
	}
}

// waitReady waits until the Batcher has a request worth sending.
func (s *RequestSender) waitReady(ctx context.Context) error {
	for {
		changed := s.batcher.changed() // before Ready, so no change is missed
		ready, at := s.batcher.Ready()
		if ready {
			return nil
		}
		var timeout <-chan time.Time
		var t *time.Timer
		if !at.IsZero() {
			t = time.NewTimer(time.Until(at))
			timeout = t.C
		}
		select {
		case <-changed:
		case <-timeout:
		case <-ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// next takes a place among open jobs and the Pacer's turn, waits for the
// rate to allow a full request, and builds it; nil when another sender took
// the records first. On a non-nil request the caller owns the job place.
func (s *RequestSender) next(ctx context.Context) (*request, error) {
	if err := s.client.reserveJob(ctx); err != nil {
		return nil, err
	}
	// Have the token before the rate is spent: a token fetched between
	// pacing and sending would delay this request, and the API would see
	// the next one come early. A failure shows again when sending.
	_, _ = s.client.enrichToken.Token(ctx)
	req, err := s.paced(ctx)
	if req == nil {
		s.client.releaseJob()
	}
	return req, err
}

func (s *RequestSender) paced(ctx context.Context) (*request, error) {
	pacer := s.client.Pacer()
	turn, err := pacer.Turn(ctx)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	release := func() { once.Do(turn) }
	defer release()
	most := pacer.MaxRequest()
	want := min(s.batcher.NextSize(), most)
	if want == 0 {
		return nil, nil
	}
	avail, err := pacer.WaitFor(ctx, want)
	if err != nil {
		return nil, err
	}
	if avail >= plentiful*most {
		// The rate does not bind: spend a full request's worth and let the
		// other sinks take their turn while this one builds.
		pacer.Spend(most)
		release()
		return s.batcher.Next(most)
	}
	req, err := s.batcher.Next(min(avail, most))
	if err != nil || req == nil {
		return nil, err
	}
	pacer.Spend(len(req.entries))
	return req, nil
}

// plentiful is how many full requests the bucket must hold for the rate not
// to bind: then requests are built outside the turn, in parallel, and
// spending a full request's worth for a smaller one costs nothing.
const plentiful = 4

// send posts req and reports the answer; it owns req's job place.
func (s *RequestSender) send(ctx context.Context, req *request) {
	n := len(req.entries)
	s.m.requestRecords.Observe(float64(n))
	s.m.requestFill.Observe(max(float64(n)/float64(s.maxRecs), float64(len(req.body))/float64(s.maxBytes)))
	sent := time.Now()
	acc, err := s.client.Enrich(ctx, s.coll, req.body)
	if err == nil {
		s.client.Pacer().Answered(time.Since(sent))
		s.m.requests.WithLabelValues("accepted").Inc()
		attempt := req.attempt()
		s.batcher.Accepted(req)
		s.follower.follow(&openJob{
			id:       acc.JobID,
			version:  acc.Version,
			entries:  req.entries,
			attempt:  attempt,
			accepted: time.Now(),
		})
		return
	}
	defer s.client.releaseJob()
	var se *httpapi.StatusError
	status := 0
	if errors.As(err, &se) {
		status = se.Status
	}
	switch {
	case status == http.StatusTooManyRequests:
		s.m.requests.WithLabelValues("throttled").Inc()
		s.client.Pacer().Throttled(streams.RetryDelayOf(err))
		s.batcher.Requeue(req)
	case status == http.StatusRequestEntityTooLarge && n > 1:
		// The API's limit is below ours: the halves go on their own.
		s.m.requests.WithLabelValues("too_large").Inc()
		s.batcher.Split(req)
	case status == http.StatusRequestEntityTooLarge:
		s.m.requests.WithLabelValues("too_large").Inc()
		s.batcher.Reject(req, streams.Reject("too_large", err))
	case status == http.StatusBadRequest && n > 1:
		// The API refuses the whole payload for any bad record: halve it
		// until the bad ones are alone, and the good ones go through.
		s.m.requests.WithLabelValues("rejected").Inc()
		s.batcher.Split(req)
	case errors.Is(err, streams.ErrRejected):
		s.m.requests.WithLabelValues("rejected").Inc()
		s.log.Debug("records rejected by the API", "records", n, "error", err)
		s.batcher.Reject(req, err)
	default:
		// 5xx, timeouts, network errors, a credential that does not work:
		// the runtime retries (or pauses) with back-off.
		s.m.requests.WithLabelValues("failed").Inc()
		if ctx.Err() == nil {
			s.log.Debug("request failed; records handed back for retry", "records", n, "error", err)
		}
		s.batcher.Fail(req, fmt.Errorf("collection %s: %w", s.coll, err))
	}
}

// drainQuiet is how long no Write call must wait before a draining unit
// stops: the runtime hands over the batches it had fetched just after a
// stop begins, so one idle moment is not enough.
const drainQuiet = 250 * time.Millisecond

// drainContext returns a context that ends when ctx has ended and then
// either no Write call has waited on b for drainQuiet, or drain has passed:
// the second phase of a graceful stop.
func drainContext(ctx context.Context, b *Batcher, drain time.Duration) (context.Context, context.CancelFunc) {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
		case <-work.Done():
			return
		}
		deadline := time.NewTimer(drain)
		defer deadline.Stop()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var idleSince time.Time
		for {
			select {
			case <-deadline.C:
				cancel()
				return
			case now := <-tick.C:
				switch {
				case b.Waiting() > 0:
					idleSince = time.Time{}
				case idleSince.IsZero():
					idleSince = now
				case now.Sub(idleSince) >= drainQuiet:
					cancel()
					return
				}
			case <-work.Done():
				return
			}
		}
	}()
	return work, cancel
}
