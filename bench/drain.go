package bench

import (
	"context"
	"fmt"
	"time"
)

// Drain is what one process did with one backlog, measured from outside:
// the window runs from the first record the API accepted to the moment
// every record was accepted and every offset committed, so start-up (config,
// topic creation, the group join) and shutdown are not in the rate, and the
// CPU is the process's own over that window.
type Drain struct {
	Records int64         // accepted by the API inside the window
	Wall    time.Duration // the window
	CPU     time.Duration // user + system CPU of the process over the window
	End     Usage         // at the end of the window, from the process's start (PeakRSS is its whole life)
}

// Plus is d and e as one drain: their records, windows and CPU added, and
// the larger peak RSS.
func (d Drain) Plus(e Drain) Drain {
	sum := Drain{Records: d.Records + e.Records, Wall: d.Wall + e.Wall, CPU: d.CPU + e.CPU, End: d.End}
	sum.End.PeakRSS = max(d.End.PeakRSS, e.End.PeakRSS)
	return sum
}

// PerSecond is the records/s over the window.
func (d Drain) PerSecond() float64 { return float64(d.Records) / d.Wall.Seconds() }

// CPUPerRecord is the process's CPU per record, in microseconds.
func (d Drain) CPUPerRecord() float64 {
	return float64(d.CPU.Microseconds()) / float64(d.Records)
}

func (d Drain) String() string {
	return fmt.Sprintf("%d records in %.1fs = %.0f/s, CPU %.2fs (%.1f µs/record, %.0f%% of a core), peak RSS %.1f MB, CPU since start %.2fs",
		d.Records, d.Wall.Seconds(), d.PerSecond(), d.CPU.Seconds(), d.CPUPerRecord(), 100*d.CPU.Seconds()/d.Wall.Seconds(), mb(d.End.PeakRSS), d.End.CPU.Seconds())
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// drainSpec says how to watch one process drain a backlog.
type drainSpec struct {
	proc  *Proc
	total int64 // records in the backlog
	// begun reports whether the API has accepted a first record, and how
	// many records of the backlog were done by then (they are left out of
	// the window).
	begun func(context.Context) (ok bool, done int64, err error)
	// finished reports whether the whole backlog is delivered and every
	// offset committed.
	finished func(context.Context) (bool, string, error)
	timeout  time.Duration
	// started, when set, is called as the window opens (make profile
	// starts its CPU profile there).
	started func()
}

// drain waits for the first accepted record, then for the whole backlog
// to be delivered and committed, and measures the process in between.
func drain(ctx context.Context, s drainSpec) (Drain, error) {
	var before int64
	if err := waitFor(ctx, s.proc, time.Minute, 20*time.Millisecond, "the first record accepted", func(ctx context.Context) (bool, string, error) {
		ok, done, err := s.begun(ctx)
		before = done
		return ok, "", err
	}); err != nil {
		return Drain{}, err
	}
	t0 := time.Now()
	u0, err := s.proc.Usage()
	if err != nil {
		return Drain{}, err
	}
	if s.started != nil {
		s.started()
	}
	if err := waitFor(ctx, s.proc, s.timeout, 50*time.Millisecond, "the backlog delivered and committed", s.finished); err != nil {
		return Drain{}, err
	}
	wall := time.Since(t0)
	u1, err := s.proc.Usage()
	if err != nil {
		return Drain{}, err
	}
	return Drain{Records: s.total - before, Wall: wall, CPU: u1.CPU - u0.CPU, End: u1}, nil
}

// allCommitted reports whether each group has committed the end of its
// topic.
func allCommitted(broker string, groupTopic map[string]string) func(context.Context) (bool, string, error) {
	return func(ctx context.Context) (bool, string, error) {
		for g, t := range groupTopic {
			ok, why, err := caughtUp(ctx, broker, g, t)
			if err != nil || !ok {
				return false, why, err
			}
		}
		return true, "", nil
	}
}
