package contacthub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/streams/delivery"
)

// A 403 means one of two things, and the runtime must not mix them up: the
// token is refused (every call would fail the same: pause the pipeline and
// retry, never dead-letter), or this one request is (bringBackProperties on
// an aggregate node, say: it can never succeed, so dead-letter it and go
// on). The reference does not say which answers mean which. The client
// tells them apart by asking the credential something cheap it may do: if
// that works, the 403 belongs to the record.

// credentialProbe runs at most one probe at a time for a client. A caller
// whose 403 came back at t joins a probe started at or after t, so that a
// burst of refused records costs one probe, and a probe that succeeded
// before a token was revoked is never taken as proof that it works.
type credentialProbe struct {
	mu   sync.Mutex
	last *probeRun
}

type probeRun struct {
	started time.Time
	done    chan struct{}
	works   bool  // the credential works
	err     error // why the probe could not tell, when it could not
}

// check returns run's answer from a probe started at or after since, running
// one if there is none. run reports whether the credential works, or an
// error when it cannot tell.
func (p *credentialProbe) check(ctx context.Context, since time.Time, run func(context.Context) (bool, error)) (bool, error) {
	p.mu.Lock()
	r := p.last
	if r != nil && !r.started.Before(since) {
		p.mu.Unlock()
		select {
		case <-r.done:
			return r.works, r.err
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	r = &probeRun{started: time.Now(), done: make(chan struct{})}
	p.last = r
	p.mu.Unlock()
	r.works, r.err = run(ctx)
	close(r.done)
	return r.works, r.err
}

// credentialWorks asks two cheap reads the token of a Contacthub source may
// make: the workspace throttling, then the last update offset. Either
// succeeding means the token works; both refused (401/403) means it does
// not; anything else leaves it unknown.
func (c *Client) credentialWorks(ctx context.Context) (bool, error) {
	_, terr := c.readThrottling(ctx)
	if terr == nil {
		return true, nil
	}
	_, lerr := c.LastOffset(ctx, "", "")
	switch {
	case lerr == nil:
		return true, nil
	case errors.Is(terr, delivery.ErrUnauthorized) && errors.Is(lerr, delivery.ErrUnauthorized):
		return false, nil
	}
	return false, fmt.Errorf("probing the credential: %w", errors.Join(terr, lerr))
}

// ownFailure turns a call's error into the record's outcome (with
// Options.Forbidden ForbiddenPause, every 403 stays a refused credential):
// a 403 whose
// token works for other calls (answered at or before answeredAt) is the
// record's, dead-lettered with the API's answer; a 403 whose token is
// refused elsewhere too, or that the probe cannot place, stays a refused
// credential (pause and retry: the safe side, since nothing is lost). Every
// other error is returned as it is.
func (c *Client) ownFailure(ctx context.Context, err error, answeredAt time.Time) error {
	var se *httpapi.StatusError
	if !errors.As(err, &se) || se.Status != http.StatusForbidden || c.cfg.Forbidden == ForbiddenPause {
		return err
	}
	works, perr := c.probe.check(ctx, answeredAt, c.credentialWorks)
	switch {
	case works:
		return delivery.Reject("rejected", fmt.Errorf("%w (the token works for other calls: the request is refused, not the token)", err))
	case perr != nil:
		c.log.Warn("a 403 could not be told apart: pausing as for a refused token", "error", err, "probe", perr)
	}
	return err
}
