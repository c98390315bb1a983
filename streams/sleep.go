package streams

import (
	"context"
	"time"
)

// Sleep waits d or until ctx ends; it reports whether d passed. Every wait
// between attempts (back-off, polling) goes through it, so a stop is never
// held up by a sleeping retry.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
