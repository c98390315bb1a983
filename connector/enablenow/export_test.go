package enablenow

import "context"

// RunMonitor runs m until ctx ends, as CategorizationSink.Start does through
// the runtime's Background, which tests outside package streams cannot make.
func RunMonitor(ctx context.Context, m *JobMonitor) error { return m.run(ctx) }
