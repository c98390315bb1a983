package streams

import (
	"context"
	"time"
)

// ShutdownContext is the two-phase stop, written once. The context it
// returns is what in-flight work runs under: it ends grace after stop ends
// (the hard deadline of a graceful stop: fetching stops with stop, work
// already taken gets grace to finish) or when cancel is called. A grace of
// zero or less ends it together with stop, as an abort does.
//
// Pipelines and the update-stream source use it; Conduit's Stop/ForceStop
// and Benthos's shutdown.Signaller are the same idea.
func ShutdownContext(stop context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	work, cancel := context.WithCancel(context.WithoutCancel(stop))
	unregister := context.AfterFunc(stop, func() {
		if grace <= 0 {
			cancel()
			return
		}
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(work, func() { t.Stop() })
	})
	return work, func() {
		unregister()
		cancel()
	}
}
