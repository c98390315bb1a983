package contacthub

import (
	"context"

	"github.com/contactlab/connector/connector/internal/credprobe"
)

// A 403 means one of two things, and the runtime must not mix them up: the
// token is refused (every call would fail the same: pause the pipeline and
// retry, never dead-letter), or this one request is (bringBackProperties on
// an aggregate node, say: it can never succeed, so dead-letter it and go
// on). The reference does not say which answers mean which; package
// credprobe tells them apart by asking the token something cheap it may do.

// newCredentialProbe asks two cheap reads the token of a Contacthub source
// may make: the workspace throttling, then the last update offset. Either
// succeeding means the token works; both refused (401/403) means it does
// not; anything else leaves it unknown.
func (c *Client) newCredentialProbe() *credprobe.Prober {
	return credprobe.New(c.cfg.Forbidden, credprobe.Reads(
		func(ctx context.Context) error { _, err := c.readThrottling(ctx); return err },
		func(ctx context.Context) error { _, err := c.LastOffset(ctx, "", ""); return err },
	), c.log)
}

// ownCall makes call (one request) and turns its error into the record's
// outcome (credprobe.Prober.Call): a 403 whose token works for other calls,
// before the request is asked once more and after it is refused again, is
// the record's, dead-lettered with the API's answer; a 403 whose token is
// refused elsewhere too, or that the probe cannot place, or any 403 with
// Options.Forbidden ForbiddenPause, stays a refused token (pause and
// retry). Every other error is returned as it is.
func (c *Client) ownCall(ctx context.Context, call func(context.Context) error) error {
	return c.probe.Call(ctx, call)
}
