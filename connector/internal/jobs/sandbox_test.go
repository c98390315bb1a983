package jobs_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/enablenow"
	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/connector/internal/jobs"
	standin "github.com/contactlab/connector/connector/sandbox/enablenow"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams/delivery"
	"github.com/contactlab/connector/streams/streamstest"
)

// Against the EnableNow stand-in over TCP, failing every way it can: a 401
// window pauses the follower, which probes with one read per back-off step
// instead of reading every job; 5xx, 429 with Retry-After and resets are
// backed off per job; and every job is seen ending with the status the API
// gives it.
func TestFollowerAgainstTheSandbox(t *testing.T) {
	const n, readers = 100, 8
	const window, step = 400 * time.Millisecond, 20 * time.Millisecond
	api, err := standin.New(standin.Config{Token: "t", StepInterval: 20 * time.Millisecond, FailShare: 0.2, MaxJobs: n})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(api.Handler())
	defer ts.Close()
	sec := &service.EnableNowConfig{BaseURL: ts.URL, Token: config.NewSecret("t"), Timeout: 5 * time.Second}
	c := config.Config{Sections: map[string]any{"enablenow": sec}}
	c.Defaults()
	client := enablenow.NewClient(sec.Options(), httpapi.NewMetrics(nil))

	var mu sync.Mutex
	ended := map[string]string{}
	f := mustNew(t, jobs.Config[string, enablenow.Job]{
		Interval: 10 * time.Millisecond, MaxJobs: n, Readers: readers, Timeout: time.Minute, Logger: quiet,
		Pause:  delivery.Policy{InitialInterval: step, MaxInterval: 2 * step},
		Status: func(ctx context.Context, id string) (enablenow.Job, error) { return client.Job(ctx, id) },
		Handle: func(_ context.Context, id string, r jobs.Read[enablenow.Job]) (bool, error) {
			if r.Err != nil {
				return false, r.Err
			}
			if !r.Status.Terminal {
				return false, nil
			}
			mu.Lock()
			defer mu.Unlock()
			ended[id] = r.Status.Status
			return true, nil
		},
	})
	for i := range n {
		req, err := schemas.DecodeCategorizationRequest(fmt.Appendf(nil, `{"userId":"u-%d"}`, i))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Reserve(t.Context()); err != nil {
			t.Fatal(err)
		}
		j, err := client.CreateJob(t.Context(), req, fmt.Sprint("key-", i))
		if err != nil {
			t.Fatal(err)
		}
		f.Follow(j.ID, j.ID)
	}
	api.Faults().Set(fault.Settings{UnauthorizedFor: fault.Duration(window),
		ServerErrorShare: 0.2, ThrottleShare: 0.05, ResetShare: 0.05, RetryAfter: fault.Duration(time.Second)})
	run(t, f)
	streamstest.WaitFor(t, 5*time.Second, "the pause on /readyz", func() (bool, string) {
		ok, why := f.Ready()
		return !ok && strings.Contains(why, "paused"), why
	})
	waitEnded(t, f)
	if ok, why := f.Ready(); !ok {
		t.Fatalf("not ready after the credential worked again: %s", why)
	}
	for _, j := range api.Jobs() {
		if got := ended[j.ID]; got != j.Status {
			t.Errorf("job %s ended as %q, the API says %q", j.ID, got, j.Status)
		}
	}
	st := api.Stats()
	// The reads out when the window opened, then one probe per step (the
	// policy's jitter makes a step at least half its interval).
	if most := int64(readers + int(window/(step/2))); st.Faults.Unauthorized > most {
		t.Fatalf("%d reads refused during a %s window, want at most %d: more than one probe per step", st.Faults.Unauthorized, window, most)
	}
	if st.Faults.Unauthorized == 0 || st.Faults.ServerErrors == 0 {
		t.Fatalf("faults were not injected: %+v", st.Faults)
	}
	t.Logf("%d jobs; refused reads %d in a %s window; faults %+v", n, st.Faults.Unauthorized, window, st.Faults)
}
