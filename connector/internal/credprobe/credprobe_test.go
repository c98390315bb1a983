package credprobe

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/streams/delivery"
)

var quiet = slog.New(slog.DiscardHandler)

func status(code int) error {
	return &httpapi.StatusError{API: "api", Route: "GET /x", Status: code, Message: http.StatusText(code)}
}

// A burst of 403s that come back while a probe is out, started before
// them, costs one more probe, shared by all: not one each. (The first
// version joined only probes started after the 403 and started its own
// otherwise, so a burst that came back while one was out cost a probe per
// record.)
func TestCheckSharesTheNextProbeWithABurst(t *testing.T) {
	var probes atomic.Int64
	started, release := make(chan struct{}), make(chan struct{})
	p := New(Probe, func(context.Context) (bool, error) {
		if probes.Add(1) == 1 {
			close(started)
			<-release
		}
		return true, nil
	}, quiet)
	first := make(chan bool)
	go func() {
		works, _ := p.Check(context.Background(), time.Now())
		first <- works
	}()
	<-started
	// The burst's 403s all came back after the first probe started.
	since := time.Now()
	const n = 50
	var wg sync.WaitGroup
	var works atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, err := p.Check(context.Background(), since); ok && err == nil {
				works.Add(1)
			}
		}()
	}
	close(release)
	wg.Wait()
	if !<-first || works.Load() != n {
		t.Fatalf("%d of %d callers told the credential works", works.Load(), n)
	}
	if got := probes.Load(); got > 2 {
		t.Fatalf("%d probes, want 2 at most: the one out, and one shared by the burst", got)
	}
}

// A probe that ended before a 403 came back proves nothing about it: the
// credential may have been revoked in between.
func TestCheckNeverTakesAnEarlierProbe(t *testing.T) {
	var revoked atomic.Bool
	var probes atomic.Int64
	p := New(Probe, func(context.Context) (bool, error) {
		probes.Add(1)
		return !revoked.Load(), nil
	}, quiet)
	if works, err := p.Check(context.Background(), time.Now()); !works || err != nil {
		t.Fatalf("first probe: %v, %v", works, err)
	}
	revoked.Store(true)
	if works, err := p.Check(context.Background(), time.Now()); works || err != nil {
		t.Fatalf("after the revocation: works=%v err=%v, want refused", works, err)
	}
	// A 403 from before the last probe started takes its answer.
	if _, err := p.Check(context.Background(), time.Now().Add(-time.Hour)); err != nil || probes.Load() != 2 {
		t.Fatalf("%d probes (%v), want the last one's answer taken", probes.Load(), err)
	}
}

// A caller that stops waiting gets its context's error.
func TestCheckHonoursTheContext(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	p := New(Probe, func(context.Context) (bool, error) {
		close(started)
		<-release
		return true, nil
	}, quiet)
	go func() { _, _ = p.Check(context.Background(), time.Now()) }()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Check(ctx, time.Now()); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// Reads are asked in order until one works; refused only when each is.
func TestReads(t *testing.T) {
	boom := errors.New("connection reset")
	cases := []struct {
		name      string
		errs      []error
		works     bool
		unknown   bool
		wantCalls int
	}{
		{"first works", []error{nil, status(403)}, true, false, 1},
		{"second works", []error{status(403), nil}, true, false, 2},
		{"both refused", []error{status(403), status(401)}, false, false, 2},
		{"one refused, one down", []error{status(403), status(503)}, false, true, 2},
		{"one down, one refused", []error{boom, status(403)}, false, true, 2},
		// A 404 is not the credential's answer: the read cannot tell.
		{"not found", []error{status(404)}, false, true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			reads := make([]func(context.Context) error, len(tc.errs))
			for i, err := range tc.errs {
				reads[i] = func(context.Context) error { calls++; return err }
			}
			works, err := Reads(reads...)(context.Background())
			if works != tc.works || (err != nil) != tc.unknown || calls != tc.wantCalls {
				t.Fatalf("works=%v err=%v after %d reads; want works=%v unknown=%v after %d", works, err, calls, tc.works, tc.unknown, tc.wantCalls)
			}
			if tc.unknown {
				for _, e := range tc.errs {
					if !errors.Is(err, e) {
						t.Fatalf("%v does not carry %v", err, e)
					}
				}
			}
		})
	}
}

// Call: only a 403 is probed, and it is the record's only when the
// credential works on both sides of the request asked once more; every
// other answer, and every 403 under Pause, is left as it came.
func TestCall(t *testing.T) {
	ok := error(nil)
	cases := []struct {
		name    string
		policy  string
		answers []error // the request's answers, in order
		probes  []bool  // the probes' answers, in order (false: refused)
		unknown bool    // the probe cannot tell
		want    delivery.Action
		calls   int
		probed  int
	}{
		{"record refused", Probe, []error{status(403), status(403)}, []bool{true, true}, false, delivery.DeadLetter, 2, 2},
		{"policy by default", "", []error{status(403), status(403)}, []bool{true, true}, false, delivery.DeadLetter, 2, 2},
		// Revoked at the first asking, given back before its probe: the
		// second asking goes through.
		{"credential restored in between", Probe, []error{status(403), ok}, []bool{true}, false, delivery.Delivered, 2, 1},
		{"credential refused", Probe, []error{status(403)}, []bool{false}, false, delivery.Pause, 1, 1},
		{"refused by the second probe", Probe, []error{status(403), status(403)}, []bool{true, false}, false, delivery.Pause, 2, 2},
		{"cannot tell", Probe, []error{status(403)}, []bool{false}, true, delivery.Pause, 1, 1},
		{"the second asking fails otherwise", Probe, []error{status(403), status(503)}, []bool{true}, false, delivery.Retry, 2, 1},
		{"every 403 pauses", Pause, []error{status(403)}, nil, false, delivery.Pause, 1, 0},
		{"a 401 is never the record's", Probe, []error{status(401)}, nil, false, delivery.Pause, 1, 0},
		{"a 400 is left as it is", Probe, []error{status(400)}, nil, false, delivery.DeadLetter, 1, 0},
		{"a 503 is left as it is", Probe, []error{status(503)}, nil, false, delivery.Retry, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls, probed := 0, 0
			p := New(tc.policy, func(context.Context) (bool, error) {
				probed++
				if tc.unknown {
					return false, status(503)
				}
				return tc.probes[probed-1], nil
			}, quiet)
			err := p.Call(context.Background(), func(context.Context) error {
				calls++
				return tc.answers[calls-1]
			})
			last := tc.answers[len(tc.answers)-1]
			if got := delivery.Classify(err); got != tc.want || calls != tc.calls || probed != tc.probed || (last != nil && !errors.Is(err, last)) {
				t.Fatalf("%v (%v) after %d calls and %d probes; want %v after %d and %d, the last answer kept", got, err, calls, probed, tc.want, tc.calls, tc.probed)
			}
			if tc.want == delivery.DeadLetter && tc.probed > 0 && (delivery.ReasonOf(err) != "rejected" || delivery.StatusOf(err) != 403) {
				t.Fatalf("reason %q status %d, want rejected with the 403", delivery.ReasonOf(err), delivery.StatusOf(err))
			}
		})
	}
}
