package jobs

import (
	"context"
	"fmt"
)

// Places bound the jobs followed at once: by one Follower (Config.MaxJobs),
// or shared by the Followers of one credential when the API caps the open
// jobs of a key rather than of a sink (UPS: MaxOpenJobs). A place is taken
// before the job is created, so the bound holds the input back instead of
// growing a queue. Safe for concurrent use.
type Places struct {
	c chan struct{}
}

// NewPlaces returns n places; n must be positive.
func NewPlaces(n int) *Places { return &Places{c: make(chan struct{}, n)} }

// Reserve takes a place, waiting while every place is taken; that wait is
// the back-pressure.
func (p *Places) Reserve(ctx context.Context) error {
	select {
	case p.c <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for room among %d followed jobs: %w", cap(p.c), ctx.Err())
	}
}

// Release gives a place back.
func (p *Places) Release() { <-p.c }

// Taken is how many places are taken now.
func (p *Places) Taken() int { return len(p.c) }

// Cap is how many places there are.
func (p *Places) Cap() int { return cap(p.c) }
