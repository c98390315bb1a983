package contacthub_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/connector/demo"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
)

// Many concurrent writers share one client: the first request waits for the
// throttling to be read, and all of them together stay below it.
func TestConcurrentWritersStayBelowThrottling(t *testing.T) {
	sb := sandboxtest.Start(t, func(c *sandbox.Config) { c.Contacthub.MaxRequestsPerMinute = 1200 }) // 20/s
	c := contacthub.NewClient(contacthub.SandboxClientOptions(sb), nil)
	g := demo.NewEventTraffic(1, 10, sandbox.NodeID)
	g.InvalidShare = 0
	var bodies [][]byte
	for range 50 {
		_, v, _ := g.Next()
		bodies = append(bodies, v)
	}
	var wg sync.WaitGroup
	for _, b := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.EnsurePace(context.Background(), time.Minute); err != nil {
				t.Error(err)
			}
			if _, err := c.CreateEvent(context.Background(), b); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if c.Pace() != 1200 {
		t.Fatalf("pace %d", c.Pace())
	}
	if st := sb.Contacthub.Stats(); st.Throttled != 0 || st.Accepted != 50 {
		t.Fatalf("throttled %d accepted %d", st.Throttled, st.Accepted)
	}
}
