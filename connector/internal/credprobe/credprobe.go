// Package credprobe tells a 403 about one request from a refused
// credential, for every API client that must not mix them up.
//
// A 403 means one of two things. Either the credential is refused (revoked,
// or without a permission every call needs): every call would fail the
// same, so the pipeline must pause and retry, never dead-letter. Or this
// one request is (a Contacthub event on an aggregate node, an EnableNow
// subject the credential may not categorize): it can never succeed, so it
// is dead-lettered and the records after it go on. The API references do
// not say which answers mean which, so the client asks the credential
// something cheap it may do (Reads): if that works, the 403 belongs to the
// request.
//
// What it owns: the policy (Probe or Pause), the one probe in flight per
// client however many 403s come back at once, and turning a 403 into the
// record's outcome (Prober.Call), asking the request once more so that a
// credential restored in between is not taken for one that never failed.
// What the cheap reads are is the API client's. It starts no goroutines: a
// probe runs on the caller that needed it first, the others wait for its
// answer.
package credprobe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/streams/delivery"
)

// The readings of a 403, as the clients' forbidden settings name them.
const (
	// Probe asks a cheap read the credential may make: when it works, the
	// 403 is the request's and it is dead-lettered; otherwise the
	// pipeline pauses.
	Probe = "probe"
	// Pause takes every 403 for a refused credential.
	Pause = "pause"
)

// Prober tells a 403 about one request from a refused credential, for one
// credential. It is safe for concurrent use.
//
// At most one probe runs at a time. A caller whose 403 came back at t takes
// the answer of a probe started at or after t, never an earlier one: a
// probe that succeeded before the credential was revoked proves nothing
// about a 403 that came after. A caller that finds a probe in flight that
// started too early waits for it to end and then shares the next one with
// every caller that came meanwhile, so the 403s of a burst that come back
// while a probe is out cost one more probe, not one each.
type Prober struct {
	works func(context.Context) (bool, error)
	pause bool
	log   *slog.Logger

	mu   sync.Mutex
	last *probeRun
}

type probeRun struct {
	started time.Time
	done    chan struct{}
	works   bool  // the credential works
	err     error // why the probe could not tell, when it could not
}

// New returns a Prober with policy Probe (or "") or Pause. works reports
// whether the credential works, or an error when it cannot tell (Reads
// builds one from cheap reads). log gets a warning when a 403 could not be
// told apart; nil means slog.Default.
func New(policy string, works func(context.Context) (bool, error), log *slog.Logger) *Prober {
	if log == nil {
		log = slog.Default()
	}
	return &Prober{works: works, pause: policy == Pause, log: log}
}

// Check returns the answer of a probe started at or after since, running
// one when there is none.
func (p *Prober) Check(ctx context.Context, since time.Time) (bool, error) {
	p.mu.Lock()
	for {
		r := p.last
		if r == nil || (r.started.Before(since) && r.ended()) {
			break
		}
		p.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		if !r.started.Before(since) {
			return r.works, r.err
		}
		// Too early for this 403: the next probe will do, shared with
		// whoever else waited for this one.
		p.mu.Lock()
	}
	r := &probeRun{started: time.Now(), done: make(chan struct{})}
	p.last = r
	p.mu.Unlock()
	r.works, r.err = p.works(ctx)
	close(r.done)
	return r.works, r.err
}

func (r *probeRun) ended() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Call makes call, which sends one request, and turns its error into the
// record's outcome. A 403 is the request's own only when the credential
// works on both sides of it: a probe started after the 403 shows it works,
// then the request, made once more, is refused again, and a probe started
// after that second 403 shows the credential still works. It is then
// rejected ("rejected", dead-lettered) with the API's answer. Without the
// second asking, a credential restored between a 403 and its probe
// (revoked for a moment, a key rotated) would pass for one that never
// failed, and a record that would now go through would be dead-lettered.
// Making the request again is safe: a 403 did nothing.
//
// A 403 whose credential is refused elsewhere too, or that the probe
// cannot place, stays a refused credential (pause and retry: the safe
// side, since nothing is lost); so does every 403 under policy Pause.
// Every other answer, including the second asking's, is returned as it is.
func (p *Prober) Call(ctx context.Context, call func(context.Context) error) error {
	err := call(ctx)
	for asked := 1; !p.pause && IsForbidden(err); asked++ {
		works, perr := p.Check(ctx, time.Now())
		switch {
		case !works:
			if perr != nil && ctx.Err() == nil {
				p.log.Warn("a 403 could not be told apart: pausing as for a refused credential", "error", err, "probe", perr)
			}
			return err
		case asked == 2:
			return delivery.Reject("rejected", fmt.Errorf("%w (the credential works for other calls: this request is refused, not the credential)", err))
		}
		err = call(ctx)
	}
	return err
}

// IsForbidden reports whether err is an API's 403 answer.
func IsForbidden(err error) bool {
	var se *httpapi.StatusError
	return errors.As(err, &se) && se.Status == http.StatusForbidden
}

// Reads builds a probe from cheap reads the credential may make, asked in
// order until one succeeds: the credential works when one does, is refused
// when every one is refused (401/403, delivery.ErrUnauthorized), and
// anything else (a 5xx, a network error) leaves it unknown, with every
// read's error.
func Reads(reads ...func(context.Context) error) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		errs := make([]error, 0, len(reads))
		refused := true
		for _, read := range reads {
			err := read(ctx)
			if err == nil {
				return true, nil
			}
			errs = append(errs, err)
			refused = refused && errors.Is(err, delivery.ErrUnauthorized)
		}
		if refused {
			return false, nil
		}
		return false, fmt.Errorf("probing the credential: %w", errors.Join(errs...))
	}
}
