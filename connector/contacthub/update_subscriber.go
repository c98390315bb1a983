package contacthub

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// UpdateChange is one record of the customers or events topic as an
// application sees it: the envelope (nil for a customer's tombstone) and,
// in Change.Header(HeaderOffset), the offset to de-duplicate by
// (HeaderOffsetSource says whether it is Contacthub's or the update's
// position in its page; both are unique and stable).
type UpdateChange = streams.Change[*schemas.UpdateEnvelope]

// SubscribeUpdates follows the topics an UpdateStreamSource writes (list
// both, or the one the application needs) in the consumer group
// cfg.GroupID, calling handle with each change in order per customer; see
// streams.Subscribe for commits and what handle's error does.
func SubscribeUpdates(ctx context.Context, cfg streams.SubscribeConfig, handle func(context.Context, UpdateChange) error) error {
	return streams.Subscribe(ctx, cfg, schemas.DecodeUpdateEnvelope, handle)
}

// ChangeOffset is the offset of a change, from its HeaderOffset, or -1.
func ChangeOffset(ch *UpdateChange) int64 {
	n, err := strconv.ParseInt(string(ch.Header(HeaderOffset)), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// UpdatePrinter is a handler for SubscribeUpdates that writes one line per
// change: what the demo and cmd/subscriber show. It is safe for concurrent
// use.
type UpdatePrinter struct {
	mu sync.Mutex
	w  io.Writer
	n  int64
}

// NewUpdatePrinter prints to w.
func NewUpdatePrinter(w io.Writer) *UpdatePrinter { return &UpdatePrinter{w: w} }

// Handle prints ch, as in
//
//	contacthub.customers/2@15 offset 1234 UPDATE CUSTOMER 87d8e330-...
//	contacthub.customers/2@16 offset 1235 tombstone 87d8e330-...
func (p *UpdatePrinter) Handle(_ context.Context, ch UpdateChange) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	what := "tombstone"
	if !ch.Tombstone {
		what = ch.Value.Operation + " " + ch.Value.EntityType
	}
	key := string(ch.Key)
	if key == "" {
		key = "(anonymous)"
	}
	// A failed write is the terminal's problem, not a reason to retry.
	_, _ = fmt.Fprintf(p.w, "%s/%d@%d offset %d %s %s\n", ch.Topic, ch.Partition, ch.Offset, ChangeOffset(&ch), what, key)
	return nil
}

// Printed is how many changes were printed.
func (p *UpdatePrinter) Printed() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// PrintUpdates subscribes to the source's topics and prints every change to
// w until ctx ends: the subscriber of the demo and of cmd/subscriber.
func PrintUpdates(ctx context.Context, cfg streams.SubscribeConfig, w io.Writer) error {
	return SubscribeUpdates(ctx, cfg, NewUpdatePrinter(w).Handle)
}
