package contacthub

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/delivery"
)

// lastOffsetPoll is how often a source that is behind reads the stream's
// last offset, for its progress: often enough for a live ETA, rarely enough
// not to spend the workspace's request budget.
const lastOffsetPoll = 5 * time.Second

// resume returns where the lead starts: after the stored offset, or, with
// none stored, at the configured start.
func (s *UpdateStreamSource) resume(ctx context.Context, offsets *OffsetStore) (UpdatesQuery, error) {
	q := UpdatesQuery{Offset: -1, Size: s.cfg.PageSize, NodeID: s.cfg.NodeID, Entity: s.cfg.Entity}
	var stored int64
	var ok bool
	err := s.retry(ctx, false, func() string { return "read the stored offset" }, func() (err error) {
		stored, ok, err = offsets.Load(ctx)
		return err
	})
	switch {
	case err != nil:
		return q, err
	case ok:
		q.Offset = stored
		return q, nil
	case s.start.latest:
		var last int64
		err := s.retry(ctx, true, func() string { return "read the last offset" }, func() (err error) {
			last, err = s.client.LastOffset(ctx, s.cfg.NodeID, s.cfg.Entity)
			return err
		})
		if err != nil {
			return q, err
		}
		// Stored at once: resolving "latest" again after a crash would
		// skip what arrived in between.
		err = s.retry(ctx, false, func() string { return fmt.Sprintf("store offset %d", last) }, func() error { return offsets.Store(ctx, last) })
		q.Offset = last
		return q, err
	default:
		// Earliest asks with no offset; a time asks with the timestamp. The
		// first answer's nextOffset says where that is.
		q.Timestamp = s.start.millis
		return q, nil
	}
}

// fetchLoop reads pages from q on and sends them, turned into records, to
// out, which it closes. A full page is followed at once by the next; after a
// short one it waits PollInterval, jittered so that sources do not ask in
// step. It returns nil when ctx ends and an error only for an answer that
// retrying cannot change.
func (s *UpdateStreamSource) fetchLoop(ctx context.Context, q UpdatesQuery, out chan<- *pageRecords) error {
	defer close(out)
	lastPolled := time.Now()
	// body is read into again for each page: the page's records are built
	// (copying what they need) before the next read.
	var body []byte
	for {
		var page *schemas.StreamPage
		err := s.retry(ctx, true, func() string { return fmt.Sprintf("read updates after offset %d", q.Offset) }, func() (err error) {
			page, body, err = s.client.updates(ctx, q, body)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		pr := s.records.build(page, q.Offset, time.Now(), s.logSkipped)
		pr.full = len(page.Updates) >= q.Size
		if pr.overrun {
			s.log.Warn("the update stream answered more updates than its offsets advanced; positions of the next page may repeat some of this one's",
				"after_offset", q.Offset, "updates", len(page.Updates), "next_offset", page.NextOffset)
		}
		// An empty first page from the earliest start says nothing about
		// where the stream begins; any other answer moves the position.
		if pr.updates > 0 || page.NextOffset > 0 {
			if pr.last > q.Offset {
				s.consumed.Add(int64(pr.updates))
				select {
				case out <- pr:
				case <-ctx.Done():
					return nil
				}
			}
			q.Offset, q.Timestamp = pr.last, 0
		}
		if pr.full {
			if now := time.Now(); now.Sub(lastPolled) >= lastOffsetPoll {
				lastPolled = now
				s.pollLast(ctx)
			}
			continue
		}
		s.progress.observeLast(q.Offset)
		if !streams.Sleep(ctx, jitter(s.cfg.PollInterval)) {
			return nil
		}
	}
}

// pollLast reads the stream's last offset for the progress figures; a
// failure only leaves them older.
func (s *UpdateStreamSource) pollLast(ctx context.Context) {
	last, err := s.client.LastOffset(ctx, s.cfg.NodeID, s.cfg.Entity)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Debug("could not read the last offset; progress figures may be stale", "error", err)
		}
		return
	}
	s.progress.observeLast(last)
}

func (s *UpdateStreamSource) logSkipped(u skippedUpdate) {
	if u.reason == skipRepeated {
		s.log.Debug("skipping an update at or below the offset already published", "offset", u.offset)
		return
	}
	s.log.Warn("skipping an update that does not make a valid envelope", "offset", u.offset, "reason", u.reason, "error", u.err)
}

// retry runs op until it succeeds, fails for good, or ctx ends. What fails
// for good is decided where it is for every API (httpapi: errors.Is
// streams.ErrRejected), plus ErrForeignOffset; it is returned with what was
// being done. ctx's end returns ctx's error. api says op calls Contacthub,
// whose credential failures (streams.ErrUnauthorized) pause the source until
// a call succeeds. Every other failure (429, 5xx, network, Kafka) is retried
// with exponential back-off, never sooner than a Retry-After says.
func (s *UpdateStreamSource) retry(ctx context.Context, api bool, what func() string, op func() error) error {
	retry := delivery.Forever(s.cfg.Retry.Initial, s.cfg.Retry.Max).Start()
	for attempt := 1; ; attempt++ {
		// kafka-go may still write what it is given with a context already
		// done: an aborted source must not store one more offset.
		if err := ctx.Err(); err != nil {
			return err
		}
		err := op()
		if err == nil {
			if api {
				s.setPaused("")
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, streams.ErrRejected) || errors.Is(err, ErrForeignOffset) {
			return fmt.Errorf("%s: %w", what(), err)
		}
		wait, _ := retry.Next(err)
		if api && errors.Is(err, streams.ErrUnauthorized) {
			s.setPaused(err.Error())
		} else {
			s.log.Warn(what()+" failed; retrying", "attempt", attempt, "in", wait, "error", err)
		}
		if !streams.Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// jitter spreads d over ±20%.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
