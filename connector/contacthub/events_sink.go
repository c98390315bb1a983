package contacthub

import (
	"context"
	"errors"
	"log/slog"

	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// EventsSink creates one Contacthub event per record. A record's value is an
// upstream event (schemas/json/event.schema.json); it is validated first
// (invalid records are rejected with the schema violations and never sent)
// and posted as the body the reference documents for Create event
// (schemas.CreateEventBody: no member null where a null reads as absent,
// within the size limit as sent).
type EventsSink struct {
	streams.NopLifecycle
	client *Client
	log    *slog.Logger
}

// NewEventsSink builds the sink.
func NewEventsSink(c *Client, log *slog.Logger) *EventsSink {
	return &EventsSink{client: c, log: log}
}

// ChecksEveryRecord implements mapping.SelfChecking: deliver decodes each
// record as schemas.DecodeEvent does (the type's Check) before its call,
// and dead-letters it as "invalid" with the same error.
func (*EventsSink) ChecksEveryRecord() {}

// Write implements streams.Sink: one call per record, on the runtime's
// workers, so each record's outcome is known when Write returns. A
// workspace throttling that cannot be read never holds records back
// (Client.EnsurePace): only the answers to the records' own calls decide.
func (s *EventsSink) Write(ctx context.Context, batch []*streams.Record, done streams.Done) {
	if err := s.client.EnsurePace(ctx, s.client.cfg.ThrottlingRefresh); err != nil {
		for _, r := range batch {
			done(r, err) // ctx ended: retried by whoever runs next
		}
		return
	}
	for _, r := range batch {
		done(r, s.deliver(ctx, r))
	}
}

// deliver makes one record's call. A 401 pauses the pipeline; a 403 does
// only when the token is refused for other calls too, else the record is
// dead-lettered (Client.ownCall); the API's logref is in the error.
func (s *EventsSink) deliver(ctx context.Context, r *streams.Record) error {
	body, err := schemas.CreateEventBody(r.Value, s.client.cfg.MaxEventBytes)
	switch {
	case errors.Is(err, schemas.ErrEventTooLarge):
		return streams.Reject("too_large", err)
	case err != nil:
		return streams.Reject("invalid", err)
	}
	return s.client.ownCall(ctx, func(ctx context.Context) error {
		return s.client.postEvent(ctx, body, nil)
	})
}
