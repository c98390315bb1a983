package contacthub_test

import (
	"context"
	"math"
	"testing"

	"golang.org/x/time/rate"

	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
)

// A replica paces at its share of the workspace's limit, whether the limit
// is configured or read from the workspace before or after the share is set.
func TestClientPacesAtItsShare(t *testing.T) {
	sb := sandboxtest.Start(t, func(c *sandbox.Config) { c.Contacthub.MaxRequestsPerMinute = 1200 }) // 20/s
	newClient := func(fixedRPM int) *contacthub.Client {
		opts := contacthub.SandboxClientOptions(sb)
		opts.Headroom, opts.MaxRequestsPerMinute = 0.5, fixedRPM
		return contacthub.NewClient(opts, nil)
	}
	tests := []struct {
		name     string
		fixedRPM int // 0: read the workspace's (1200/min)
		share    float64
		readLate bool // the throttling is read after the share is set
		want     rate.Limit
	}{
		{name: "alone", fixedRPM: 6000, share: 1, want: 50},
		{name: "a third, configured limit", fixedRPM: 6000, share: 1.0 / 3, want: 50.0 / 3},
		{name: "a third, read before", share: 1.0 / 3, want: 10.0 / 3},
		{name: "a third, read after", share: 1.0 / 3, readLate: true, want: 10.0 / 3},
		// No partitions: almost nothing, never a limiter that never lets a
		// request through.
		{name: "nothing", fixedRPM: 6000, share: 0, want: 0.05},
		{name: "more than all", fixedRPM: 6000, share: 3, want: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(tt.fixedRPM)
			if tt.fixedRPM == 0 && !tt.readLate {
				if err := c.RefreshThrottling(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			c.SetShare(tt.share)
			if tt.fixedRPM == 0 && tt.readLate {
				if err := c.RefreshThrottling(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if got := c.PaceLimit(); math.Abs(float64(got-tt.want)) > 1e-9 {
				t.Fatalf("paces at %v/s, want %v/s", got, tt.want)
			}
		})
	}
}
