package streamstest

import (
	"context"
	"testing"

	"github.com/contactlab/connector/streams"
)

// StartPipeline runs a pipeline of cfg and sink until cancel (or the
// test's end); done gives what Run returned.
func StartPipeline(t *testing.T, cfg streams.PipelineConfig, sink streams.Sink) (p *streams.Pipeline, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	p, err := streams.NewPipeline(cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	errs := make(chan error, 1)
	go func() { errs <- p.Run(ctx) }()
	return p, cancel, errs
}
