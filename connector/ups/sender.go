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
	"github.com/contactlab/connector/streams/delivery"
)

// RequestSender sends a sink's requests: it takes each request from the
// Batcher when the Pacer allows, posts it, and acts on the answer as
// judge decides: an accepted request's job goes to the JobFollower; a 429
// slows the Pacer and sends the same request again; a 413 splits it; a 400
// bisects it until the records the API refuses are alone, and rejects
// those; any other failure hands the records back to the runtime, which
// retries them with back-off (or pauses, for a credential).
//
// It is a streams.Part of the sink: Ready says whether its loops run.
type RequestSender struct {
	name     string
	coll     schemas.Collection
	senders  int
	client   *Client
	batcher  *Batcher
	follower *JobFollower
	log      *slog.Logger
	m        *Metrics
	maxRecs  int
	maxBytes int
	running  atomic.Int32 // loops running
}

// Name implements streams.Part.
func (s *RequestSender) Name() string { return s.name }

// Ready implements streams.Part. A credential failure is reported by the
// pipeline, which pauses on the records handed back with it.
func (s *RequestSender) Ready() (bool, string) {
	if s.running.Load() == 0 {
		return false, "not running"
	}
	return true, ""
}

// loop sends requests until ctx ends: the runtime's forced stop. A graceful
// stop first drains the Batcher (no linger), so what it holds is sent
// while the runtime waits for outcomes.
func (s *RequestSender) loop(ctx context.Context) error {
	s.running.Add(1)
	defer s.running.Add(-1)
	// Compressing into memory does not fail; should it, do not spin.
	retry := delivery.Forever(100*time.Millisecond, 5*time.Second).Start()
	for ctx.Err() == nil {
		if err := s.waitReady(ctx); err != nil {
			return nil
		}
		req, err := s.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Error("building a request failed", "error", err)
			if retry.Wait(ctx, err) != nil {
				return nil
			}
			continue
		}
		retry.Reset()
		if req != nil {
			s.send(ctx, req)
		}
	}
	return nil
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
	if err := s.follower.reserve(ctx); err != nil {
		return nil, fmt.Errorf("ups: %s: %w", s.coll, err)
	}
	// Have the token before the rate is spent: a token fetched between
	// pacing and sending would delay this request, and the API would see
	// the next one come early. A failure shows again when sending.
	_, _ = s.client.enrichToken.Token(ctx)
	req, err := s.paced(ctx)
	if req == nil {
		s.follower.release()
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

// answer is what an enrichment answer means for the request that got it.
type answer uint8

const (
	// answerAccepted: the API took the request and created a job to follow.
	answerAccepted answer = iota
	// answerThrottled (429): the Pacer slows down and the same request
	// goes again, first, after the answer's Retry-After.
	answerThrottled
	// answerSplit (413, several records): the API's limit is below ours;
	// the halves go on their own.
	answerSplit
	// answerTooLarge (413, one record): the record is rejected as
	// "too_large".
	answerTooLarge
	// answerBisect (400, several records): the API refuses the whole
	// payload for any bad record; the halves go on their own until the bad
	// ones are alone and the good ones go through.
	answerBisect
	// answerRejected (400 for one record, any other permanent 4xx): the
	// records are rejected with the API's message.
	answerRejected
	// answerUnauthorized (401/403 after the client's one renewal, a token
	// endpoint refusing the credential): the records go back to the
	// runtime, which pauses the pipeline and retries.
	answerUnauthorized
	// answerRetry (5xx, 408, timeouts, network errors, an answer without a
	// job): the records go back to the runtime, which retries them with
	// back-off.
	answerRetry
)

// answerLabels are the values of connector_ups_requests_total's outcome
// label.
var answerLabels = [...]string{
	answerAccepted:     "accepted",
	answerThrottled:    "throttled",
	answerSplit:        "too_large",
	answerTooLarge:     "too_large",
	answerBisect:       "rejected",
	answerRejected:     "rejected",
	answerUnauthorized: "unauthorized",
	answerRetry:        "failed",
}

func (a answer) String() string { return answerLabels[a] }

// judge is the one decision of what the enrichment service's answer to a
// request of n records means. The statuses the UPS API gives a meaning of
// its own (429, 413, 400) are read from the enrichment service's
// *httpapi.StatusError only, so a token endpoint's 400 or 429 never splits
// a request or slows the Pacer; everything else is delivery.Classify's, as
// for every API.
func judge(n int, err error) answer {
	if err == nil {
		return answerAccepted
	}
	var se *httpapi.StatusError
	if errors.As(err, &se) {
		switch {
		case se.Status == http.StatusTooManyRequests:
			return answerThrottled
		case se.Status == http.StatusRequestEntityTooLarge && n > 1:
			return answerSplit
		case se.Status == http.StatusRequestEntityTooLarge:
			return answerTooLarge
		case se.Status == http.StatusBadRequest && n > 1:
			return answerBisect
		}
	}
	switch delivery.Classify(err) {
	case delivery.DeadLetter:
		return answerRejected
	case delivery.Pause:
		return answerUnauthorized
	}
	return answerRetry
}

// send posts req and acts on the answer; it owns req's job place.
func (s *RequestSender) send(ctx context.Context, req *request) {
	n := len(req.entries)
	s.m.requestRecords.Observe(float64(n))
	s.m.requestFill.Observe(max(float64(n)/float64(s.maxRecs), float64(len(req.body))/float64(s.maxBytes)))
	sent := time.Now()
	acc, err := s.client.Enrich(ctx, s.coll, req.body)
	a := judge(n, err)
	s.m.requests.WithLabelValues(a.String()).Inc()
	if a == answerAccepted {
		s.client.Pacer().Answered(time.Since(sent))
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
	defer s.follower.release()
	switch a {
	case answerThrottled:
		s.client.Pacer().Throttled(delivery.RetryDelayOf(err))
		s.batcher.Requeue(req)
	case answerSplit, answerBisect:
		s.batcher.Split(req)
	case answerTooLarge:
		s.batcher.Reject(req, streams.Reject("too_large", err))
	case answerRejected:
		s.log.Debug("records rejected by the API", "records", n, "error", err)
		s.batcher.Reject(req, err)
	default:
		if ctx.Err() == nil {
			s.log.Debug("request failed; records handed back for retry", "records", n, "error", err)
		}
		s.batcher.Fail(req, fmt.Errorf("collection %s: %w", s.coll, err))
	}
}
