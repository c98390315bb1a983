package contacthub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/connector/sandbox"
	chsandbox "github.com/contactlab/connector/connector/sandbox/contacthub"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// sourceUnderTest is a source wired to a sandbox and an embedded broker.
type sourceUnderTest struct {
	*UpdateStreamSource
	sb     *sandbox.Sandbox
	broker string
	src    SourceOptions
	kafka  KafkaOptions
	api    Options
}

// newTestSource starts a sandbox (changed by mutate) and a broker, and
// builds a source of testSourceOptions changed by change.
func newTestSource(t *testing.T, mutate func(*sandbox.Config), change func(*SourceOptions)) *sourceUnderTest {
	t.Helper()
	broker := streamstest.Broker(t, 2)
	sb := sandboxtest.Start(t, mutate)
	s := &sourceUnderTest{sb: sb, broker: broker, src: testSourceOptions(),
		kafka: KafkaOptions{Brokers: []string{broker}, SessionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond, Partitions: 4},
		api:   testClientOptions(sb)}
	if change != nil {
		change(&s.src)
	}
	s.UpdateStreamSource = buildSource(t, s.src, s.kafka, s.api)
	return s
}

// testSourceOptions are those of a source "updates" with page_size 500,
// poll_interval 20ms and retry {initial: 5ms, max: 100ms}, the rest as the
// connector's config defaults it (package service).
func testSourceOptions() SourceOptions {
	return SourceOptions{
		Name:            "updates",
		CustomersTopic:  "contacthub.customers",
		EventsTopic:     "contacthub.events",
		DeadLetterTopic: "updates.dlq",
		OffsetsTopic:    "connector.source-offsets",
		GroupID:         "connector-source-updates",
		Start:           "earliest",
		PageSize:        500,
		MaxPageBytes:    32 << 20,
		PollInterval:    20 * time.Millisecond,
		Tombstones:      true,
		Retry:           RetryOptions{Initial: 5 * time.Millisecond, Max: 100 * time.Millisecond},
	}
}

// testClientOptions are those of a client of the sandbox's workspace, the
// rest as the connector's config defaults it (package service).
func testClientOptions(sb *sandbox.Sandbox) Options {
	return Options{
		BaseURL:     sb.ContacthubURL(),
		WorkspaceID: sandbox.WorkspaceID,
		Token:       sandbox.ContacthubToken,
		Timeout:     10 * time.Second,
		Headroom:    0.98,
		Paths: Paths{
			Events:     "/workspaces/{workspaceId}/events",
			Throttling: "/workspaces/{workspaceId}/configuration/throttling",
			Updates:    "/workspaces/{workspaceId}/updates",
			LastOffset: "/workspaces/{workspaceId}/updates/last-offset",
		},
	}
}

// reconfigure replaces the source by one configured as change says.
func (s *sourceUnderTest) reconfigure(t *testing.T, change func(*SourceOptions)) {
	t.Helper()
	change(&s.src)
	s.UpdateStreamSource = buildSource(t, s.src, s.kafka, s.api)
}

func buildSource(t *testing.T, so SourceOptions, ko KafkaOptions, api Options) *UpdateStreamSource {
	t.Helper()
	m, _ := NewSourceMetrics(nil)
	src, err := NewUpdateStreamSource(UpdateStreamSourceConfig{Source: so, Kafka: ko,
		Client: NewClient(api, httpapi.NewMetrics(nil)), Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := streams.EnsureTopics(ctx, ko.Brokers, src.Topics()...); err != nil {
		t.Fatal(err)
	}
	return src
}

// run runs the source until the test ends or stop is called; stop returns
// what Run returned.
func (s *sourceUnderTest) run(t *testing.T) (stop func() error) {
	return testkit.Run(t, s.Run)
}

func (s *sourceUnderTest) waitFor(t *testing.T, offset int64) {
	t.Helper()
	streamstest.WaitFor(t, 30*time.Second, fmt.Sprintf("offset %d published", offset), func() (bool, string) {
		p := s.Progress()
		return p.Current >= offset, p.String()
	})
}

// requirePublishedOnce fails the test unless the offsets 1 to last are
// each published once.
func (s *sourceUnderTest) requirePublishedOnce(t *testing.T, last int64) {
	t.Helper()
	if got := s.published(t); !slices.Equal(got, span(1, last)) {
		t.Fatalf("published %d offsets, want 1..%d once each", len(got), last)
	}
}

// waitForPause waits until /readyz says the source is paused by an answer
// of status, and checks the paused gauge says so too.
func (s *sourceUnderTest) waitForPause(t *testing.T, status string) {
	t.Helper()
	streamstest.WaitFor(t, 10*time.Second, "the pause on /readyz", func() (bool, string) {
		ok, why := s.Ready()
		return !ok && strings.HasPrefix(why, "paused: ") && strings.Contains(why, status), why
	})
	if v := gaugeValue(t, s.gauges.paused); v != 1 {
		t.Fatalf("paused gauge %v", v)
	}
}

// published lists the offsets of the envelopes (not tombstones) on the
// source's topics, sorted.
func (s *sourceUnderTest) published(t *testing.T) []int64 {
	t.Helper()
	var out []int64
	for _, topic := range []string{s.src.CustomersTopic, s.src.EventsTopic} {
		for _, m := range streamstest.ReadAll(t, s.broker, topic) {
			if m.Value == nil {
				continue
			}
			for _, h := range m.Headers {
				if h.Key == HeaderOffset {
					n, _ := strconv.ParseInt(string(h.Value), 10, 64)
					out = append(out, n)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func span(from, to int64) []int64 {
	var out []int64
	for o := from; o <= to; o++ {
		out = append(out, o)
	}
	return out
}

// With no stored offset the source starts where it is configured to, and
// stores "latest" at once so that a crash before the first page skips
// nothing.
func TestUpdateStreamSourceStartPositions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start string
	}{
		{"earliest", "earliest"},
		{"latest", "latest"},
		{"timestamp", ""}, // the time between the two batches
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSource(t, nil, func(o *SourceOptions) {
				if tc.start != "" {
					o.Start = tc.start
				}
			})
			s.sb.Contacthub.AppendUpdates(300)
			if tc.start == "" {
				// Updates are stamped in milliseconds: the next batch must
				// come in a later one than this one.
				at := time.Now().Add(time.Millisecond)
				streamstest.WaitFor(t, time.Second, "the clock to pass the start time", func() (bool, string) { return time.Now().After(at), "" })
				s.reconfigure(t, func(o *SourceOptions) { o.Start = at.UTC().Format(time.RFC3339Nano) })
			}
			before := s.sb.Contacthub.LastOffset()
			var from int64 = 1
			if tc.start != "earliest" {
				from = before + 1
			}
			s.run(t)
			streamstest.WaitFor(t, 10*time.Second, "the source to lead", func() (bool, string) {
				ok, why := s.Ready()
				return ok && why == "active", why
			})
			if tc.start == "latest" {
				streamstest.WaitFor(t, 10*time.Second, "latest stored", func() (bool, string) {
					off, ok, err := storedOffsetOf(t, s)
					return ok && off == before, fmt.Sprint(off, ok, err)
				})
			}
			s.sb.Contacthub.AppendUpdates(200)
			last := s.sb.Contacthub.LastOffset()
			s.waitFor(t, last)
			if got := s.published(t); !slices.Equal(got, span(from, last)) {
				t.Fatalf("published offsets %d..%d (%d), want %d..%d", got[0], got[len(got)-1], len(got), from, last)
			}
			if p := s.Progress(); p.Current != last || p.Last != last || p.Percent != 100 || p.State != "active" {
				t.Fatalf("progress %+v", p)
			}
		})
	}
}

func storedOffsetOf(t *testing.T, s *sourceUnderTest) (int64, bool, error) {
	t.Helper()
	st, err := NewOffsetStore([]string{s.broker}, s.src.OffsetsTopic, s.src.Name, sandbox.WorkspaceID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return loadOffset(t, st)
}

// 401 pauses the source (not ready, with the reason) until the credential
// works again; then it goes on where it was.
func TestUpdateStreamSourcePausesOnUnauthorized(t *testing.T) {
	s := newTestSource(t, nil, nil)
	s.run(t)
	s.waitFor(t, s.sb.Contacthub.LastOffset())
	faults := s.sb.Contacthub.Faults()
	faults.Set(fault.Settings{UnauthorizedFor: fault.Duration(time.Second)})
	s.waitForPause(t, "401")
	s.sb.Contacthub.AppendUpdates(1000)
	last := s.sb.Contacthub.LastOffset()
	s.waitFor(t, last)
	if ok, why := s.Ready(); !ok || why != "active" {
		t.Fatalf("after the window: ready %v %q", ok, why)
	}
	s.requirePublishedOnce(t, last)
}

// 5xx, 429 and connection resets are retried; nothing is lost or repeated.
func TestUpdateStreamSourceRetriesThroughFaults(t *testing.T) {
	s := newTestSource(t, func(c *sandbox.Config) {
		c.Contacthub.Faults = fault.Settings{ServerErrorShare: 0.3, ThrottleShare: 0.05, ResetShare: 0.1, RetryAfter: fault.Duration(time.Second)}
	}, func(o *SourceOptions) {
		// Enough requests (over 60) that every fault is all but sure to
		// be drawn.
		o.PageSize = 50
	})
	s.sb.Contacthub.AppendUpdates(3000)
	s.run(t)
	last := s.sb.Contacthub.LastOffset()
	s.waitFor(t, last)
	s.requirePublishedOnce(t, last)
	f := s.sb.Contacthub.Stats().Faults
	if f.ServerErrors == 0 || f.Resets == 0 {
		t.Fatalf("faults not injected: %+v", f)
	}
}

// An answer retrying alone cannot change never ends the source: a 4xx on
// the stream pauses it, /readyz says why, and it is retried with back-off
// until the API or its configuration is put right; then it goes on where
// it was, missing nothing.
func TestUpdateStreamSourcePausesOnRejection(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status string
		break_ func(*sandbox.Sandbox)
		fix    func(*sandbox.Sandbox)
	}{
		// The source asks for pages of 500; this API answers at most 100.
		{"page size refused", "HTTP 400", func(sb *sandbox.Sandbox) { sb.Contacthub.SetMaxPageSize(100) }, func(sb *sandbox.Sandbox) { sb.Contacthub.SetMaxPageSize(0) }},
		// The token lost its permission on the stream.
		{"stream forbidden", "HTTP 403", func(sb *sandbox.Sandbox) { sb.Contacthub.SetForbidden(chsandbox.OpUpdates) }, func(sb *sandbox.Sandbox) { sb.Contacthub.SetForbidden() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSource(t, nil, nil)
			tc.break_(s.sb)
			stop := s.run(t)
			s.waitForPause(t, tc.status)
			s.sb.Contacthub.AppendUpdates(700)
			tc.fix(s.sb)
			last := s.sb.Contacthub.LastOffset()
			s.waitFor(t, last)
			if ok, why := s.Ready(); !ok || why != "active" {
				t.Fatalf("after the fix: ready %v %q", ok, why)
			}
			s.requirePublishedOnce(t, last)
			if err := stop(); err != nil {
				t.Fatalf("Run returned %v", err)
			}
		})
	}
}

// A graceful stop finishes the page in flight and stores its offset, so the
// next run repeats nothing.
func TestUpdateStreamSourceGracefulStopStoresThePageInFlight(t *testing.T) {
	s := newTestSource(t, nil, nil)
	s.sb.Contacthub.AppendUpdates(4000)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var pages atomic.Int64
	s.OnPageProduced(func(context.Context, int64) {
		if pages.Add(1) == 3 {
			stop() // the stop begins between the produce and the store
		}
	})
	if err := s.Run(ctx); err != nil {
		t.Fatalf("graceful stop returned %v", err)
	}
	stored, ok, err := storedOffsetOf(t, s)
	if err != nil || !ok || stored != 1500 {
		t.Fatalf("stored %d %v %v, want 1500 (three pages of 500)", stored, ok, err)
	}
	// The page fetched ahead was left for the next run: not in flight.
	if c := s.Counts(); c.InFlight != 0 || c.Consumed != 1500 || c.Delivered != 1500 {
		t.Fatalf("read %d, published %d, in flight %d after a graceful stop; want 1500, 1500, 0", c.Consumed, c.Delivered, c.InFlight)
	}
	s.reconfigure(t, func(*SourceOptions) {})
	s.run(t)
	last := s.sb.Contacthub.LastOffset()
	s.waitFor(t, last)
	s.requirePublishedOnce(t, last)
}

// The stored offset of another workspace stops the source instead of being
// used.
func TestUpdateStreamSourceRefusesForeignOffset(t *testing.T) {
	s := newTestSource(t, nil, nil)
	other, _ := NewOffsetStore([]string{s.broker}, s.src.OffsetsTopic, "updates", "b2a02e56-a6da-4b02-b80e-d32fdf441aaf")
	defer other.Close()
	if err := other.Store(context.Background(), 7); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Run(ctx); !errors.Is(err, ErrForeignOffset) {
		t.Fatalf("Run returned %v, want ErrForeignOffset", err)
	}
}

// retry waits at least what a Retry-After says; a 4xx pauses the source
// (not ready, with the answer) and is retried too, and the first success
// resumes it.
func TestUpdateStreamSourceRetry(t *testing.T) {
	s := newTestSource(t, nil, nil)
	ctx := context.Background()
	calls := 0
	start := time.Now()
	err := s.retry(ctx, true, func() string { return "op" }, func() error {
		if calls++; calls == 1 {
			return &httpapi.StatusError{API: "contacthub", Status: 429, Retry: 300 * time.Millisecond}
		}
		return nil
	})
	if err != nil || calls != 2 || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("err %v after %d calls in %v, want success after the Retry-After", err, calls, time.Since(start))
	}
	calls = 0
	var whilePaused string
	err = s.retry(ctx, true, func() string { return "op" }, func() error {
		if calls++; calls == 1 {
			return &httpapi.StatusError{API: "contacthub", Status: 400}
		}
		whilePaused = s.ready.Paused()
		return nil
	})
	if err != nil || calls != 2 || !strings.HasPrefix(whilePaused, "op: ") || !strings.Contains(whilePaused, "HTTP 400") {
		t.Fatalf("err %v after %d calls, paused with %q; want the 400 to pause and be retried", err, calls, whilePaused)
	}
	if why := s.ready.Paused(); why != "" {
		t.Fatalf("not resumed after the success: %q", why)
	}
}

// The reference's stream gives updates no offset of their own. Two changes
// of one customer in one page still become two records with two positions,
// in order, that say they are positions: a consumer that de-duplicates by
// key and offset, as the README advises, keeps both.
func TestUpdateStreamSourceKeepsEveryChangeOfACustomerInAPage(t *testing.T) {
	s := newTestSource(t, nil, nil)
	cc, err := NewClient(s.api, nil).Customers(CustomerPaths{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	body := func(extra string) []byte {
		return []byte(`{"nodeId":"` + sandbox.NodeID + `","externalId":"twice-1","extra":"` + extra + `"}`)
	}
	id, err := cc.Create(ctx, body("first"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Create(ctx, body("second")); err != nil { // merged: an UPDATE of the same customer
		t.Fatal(err)
	}
	s.run(t)
	s.waitFor(t, s.sb.Contacthub.LastOffset())
	seen := map[string]bool{}
	var extras, offsets []string
	for _, m := range streamstest.ReadAll(t, s.broker, s.src.CustomersTopic) {
		if string(m.Key) != id || m.Value == nil {
			continue
		}
		h := streamstest.Headers(m)
		if h[HeaderOffsetSource] != schemas.OffsetSourcePage {
			t.Fatalf("headers %v: the reference's stream has no per-update offsets", h)
		}
		if k := h[HeaderOffset]; seen[k] {
			continue
		} else {
			seen[k] = true
			offsets = append(offsets, k)
		}
		env, err := schemas.DecodeUpdateEnvelope(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		var data struct{ Extra string }
		if err := json.Unmarshal(env.Data, &data); err != nil {
			t.Fatal(err)
		}
		extras = append(extras, data.Extra)
	}
	if !slices.Equal(extras, []string{"first", "second"}) {
		t.Fatalf("changes kept after de-duplication: %v at offsets %v, want first and second", extras, offsets)
	}
}

// Pages are never cut short. A page over the read limit is asked again with
// fewer updates; an update over the limit on its own is dead-lettered with
// its offset and ids (its data is not kept), and every other update is
// published once.
func TestUpdateStreamSourceReadLimit(t *testing.T) {
	s := newTestSource(t, nil, func(o *SourceOptions) { o.MaxPageBytes = 16 << 10 })
	s.sb.Contacthub.AppendUpdates(300)
	cc, err := NewClient(s.api, nil).Customers(CustomerPaths{})
	if err != nil {
		t.Fatal(err)
	}
	big := `{"nodeId":"` + sandbox.NodeID + `","externalId":"big-1","extended":{"notes":"` + strings.Repeat("n", 40<<10) + `"}}`
	id, err := cc.Create(context.Background(), []byte(big))
	if err != nil {
		t.Fatal(err)
	}
	bigAt := s.sb.Contacthub.LastOffset()
	s.sb.Contacthub.AppendUpdates(300)
	s.run(t)
	last := s.sb.Contacthub.LastOffset()
	s.waitFor(t, last)

	want := slices.DeleteFunc(span(1, last), func(o int64) bool { return o == bigAt })
	if got := s.published(t); !slices.Equal(got, want) {
		t.Fatalf("published %d offsets, want 1..%d once each but %d", len(got), last, bigAt)
	}
	dl := streamstest.ReadAll(t, s.broker, s.src.DeadLetterTopic)
	if len(dl) != 1 {
		t.Fatalf("%d dead letters, want the one large update", len(dl))
	}
	h := streamstest.Headers(dl[0])
	if h[HeaderOffset] != fmt.Sprint(bigAt) || h[streams.HeaderDLQOffset] != fmt.Sprint(bigAt) || h[streams.HeaderDLQReason] != skipTooLarge ||
		h[HeaderOffsetSource] != schemas.OffsetSourcePage || !strings.Contains(h[streams.HeaderDLQError], "read limit") {
		t.Fatalf("dead letter headers %v, want offset %d, too_large", h, bigAt)
	}
	var kept struct {
		Operation string
		Entity    struct {
			Type string
			Data struct{ ID string }
		}
	}
	if err := json.Unmarshal(dl[0].Value, &kept); err != nil || kept.Operation != schemas.OperationCreate || kept.Entity.Type != schemas.EntityCustomer || kept.Entity.Data.ID != id {
		t.Fatalf("dead letter value %s (%v), want the CREATE of customer %s", dl[0].Value, err, id)
	}
	if c := s.Counts(); c.DeadLettered != 1 {
		t.Fatalf("counts %+v", c)
	}
}
