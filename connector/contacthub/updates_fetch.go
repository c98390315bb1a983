package contacthub

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/contactlab/connector/connector/httpapi"
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
// step. A page over the read limit (MaxPageBytes) is asked again with half
// the size, down to one update, and the size grows back page by page; an
// update over the limit on its own is dead-lettered with its offset. It
// returns nil when ctx ends and an error only for one retrying cannot
// change (ErrForeignOffset).
func (s *UpdateStreamSource) fetchLoop(ctx context.Context, q UpdatesQuery, out chan<- *pageRecords) error {
	defer close(out)
	lastPolled := time.Now()
	// body is read into again for each page: the page's records are built
	// (copying what they need) before the next read.
	var body []byte
	for {
		var page *schemas.StreamPage
		var over *oversizedUpdate
		err := s.retry(ctx, true, func() string { return fmt.Sprintf("read updates after offset %d", q.Offset) }, func() error {
			for {
				var err error
				page, body, err = s.client.updates(ctx, q, body, s.cfg.MaxPageBytes)
				var tooLarge *httpapi.BodyTooLargeError
				if !errors.As(err, &tooLarge) {
					return err
				}
				if q.Size == 1 {
					page = nil
					over, err = s.client.oversizedUpdate(ctx, q)
					return err
				}
				q.Size = max(1, q.Size/2)
				s.log.Info("a page of updates is over the read limit; asking for fewer", "after_offset", q.Offset, "size", q.Size, "error", err)
			}
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		var pr *pageRecords
		if over != nil {
			pr = s.records.oversized(over, q.Offset, s.cfg.MaxPageBytes, time.Now(), s.logSkipped)
			pr.full = !over.empty
		} else {
			pr = s.records.build(page, q.Offset, time.Now(), s.logSkipped)
			pr.full = len(page.Updates) >= q.Size
			if pr.overrun {
				s.log.Warn("the update stream answered more updates than its offsets advanced; positions of the next page may repeat some of this one's",
					"after_offset", q.Offset, "updates", len(page.Updates), "next_offset", page.NextOffset)
			}
		}
		// A size cut for large updates grows back, so that one large update
		// does not slow the stream for good.
		q.Size = min(s.cfg.PageSize, 2*q.Size)
		// An empty first page from the earliest start says nothing about
		// where the stream begins; any other answer moves the position.
		if pr.updates > 0 || pr.last > 0 {
			if pr.last > q.Offset {
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
	switch u.reason {
	case skipRepeated:
		s.log.Debug("skipping an update at or below the offset already published", "offset", u.offset)
	case skipTooLarge:
		s.log.Warn("dead-lettering an update over the read limit", "offset", u.offset, "error", u.err)
	default:
		s.log.Warn("skipping an update that does not make a valid envelope", "offset", u.offset, "reason", u.reason, "error", u.err)
	}
}

// retry runs op until it succeeds or ctx ends, with exponential back-off
// (delivery.Policy), never sooner than a Retry-After says. Only
// ErrForeignOffset, which no retry can change, is returned, with what was
// being done; ctx's end returns ctx's error. api says op calls Contacthub:
// an answer retrying alone cannot change (a refused credential, any other
// 4xx, a page that does not decode) pauses the source, which /readyz
// shows with the answer, until a call succeeds: the process and its other
// pipelines go on, and the source resumes by itself once the API or its
// configuration is put right. Every other failure (429, 5xx, network,
// Kafka) is retried while the source stays ready.
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
		if errors.Is(err, ErrForeignOffset) {
			return fmt.Errorf("%s: %w", what(), err)
		}
		wait, _ := retry.Next(err)
		if api && pausesSource(err) {
			s.setPaused(fmt.Sprintf("%s: %v", what(), err))
		} else {
			s.log.Warn(what()+" failed; retrying", "attempt", attempt, "in", wait, "error", err)
		}
		if !streams.Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// pausesSource reports whether err is an answer of Contacthub that retrying
// alone cannot change.
func pausesSource(err error) bool {
	var bad *schemas.ValidationError
	return errors.Is(err, streams.ErrUnauthorized) || errors.Is(err, streams.ErrRejected) || errors.As(err, &bad)
}

// jitter spreads d over ±20%.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
