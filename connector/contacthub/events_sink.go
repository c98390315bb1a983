package contacthub

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// EventsSink creates one Contacthub event per record. A record's value is the
// Create-event body; it is validated first (invalid records are rejected with
// the schema violations and never sent) and then posted unchanged.
type EventsSink struct {
	streams.NopLifecycle
	client *Client
	log    *slog.Logger
}

// NewEventsSink builds the sink.
func NewEventsSink(c *Client, log *slog.Logger) *EventsSink {
	return &EventsSink{client: c, log: log}
}

// throttleRefresh is how often the workspace throttling is read again, so a
// change made in Contacthub is followed without a restart.
const throttleRefresh = time.Minute

// Write implements streams.Sink: one call per record, on the runtime's
// workers, so each record's outcome is known when Write returns.
func (s *EventsSink) Write(ctx context.Context, batch []*streams.Record, done streams.Done) {
	if err := s.client.EnsurePace(ctx, throttleRefresh); err != nil {
		if errors.Is(err, streams.ErrUnauthorized) {
			for _, r := range batch {
				done(r, err)
			}
			return
		}
		s.log.Warn("could not read the workspace throttling; keeping the last pace, 429 answers are retried", "error", err)
	}
	for _, r := range batch {
		done(r, s.deliver(ctx, r))
	}
}

func (s *EventsSink) deliver(ctx context.Context, r *streams.Record) error {
	if _, err := schemas.DecodeEvent(r.Value); err != nil {
		return streams.Reject("invalid", err)
	}
	_, err := s.client.CreateEvent(ctx, r.Value)
	return err
}
