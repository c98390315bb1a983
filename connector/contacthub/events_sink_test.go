package contacthub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/sandbox"
	chsandbox "github.com/contactlab/connector/connector/sandbox/contacthub"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/delivery"
)

const (
	testCustomerID = "87d8e330-2878-4742-a86f-dbbb3bf522ac"
	aggregateNode  = "be4f0058-c51e-4909-acdc-373dfba102bd"
)

// eventsHarness is an EventsSink on a sandbox configured by mutate, with
// client options changed by change.
type eventsHarness struct {
	sb     *sandbox.Sandbox
	client *Client
	sink   *EventsSink
}

func newEventsHarness(t *testing.T, mutate func(*chsandbox.Config), change func(*Options)) *eventsHarness {
	t.Helper()
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		if mutate != nil {
			mutate(&c.Contacthub)
		}
	})
	opts := testClientOptions(sb)
	opts.Logger = slog.New(slog.DiscardHandler)
	if change != nil {
		change(&opts)
	}
	c := NewClient(opts, nil)
	return &eventsHarness{sb: sb, client: c, sink: NewEventsSink(c, opts.Logger)}
}

// write runs one Write of values and returns each record's outcome.
func (h *eventsHarness) write(t *testing.T, values ...string) []error {
	t.Helper()
	batch := make([]*streams.Record, len(values))
	index := map[*streams.Record]int{}
	for i, v := range values {
		batch[i] = &streams.Record{Topic: "web.events", Offset: int64(i), Value: []byte(v)}
		index[batch[i]] = i
	}
	out := make([]error, len(values))
	var mu sync.Mutex
	seen := 0
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h.sink.Write(ctx, batch, func(r *streams.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		out[index[r]] = err
		seen++
	})
	if seen != len(values) {
		t.Fatalf("%d outcomes for %d records", seen, len(values))
	}
	return out
}

func eventValue(extra string) string {
	return `{"customerId":"` + testCustomerID + `","type":"viewedPage","context":"WEB","properties":{"page":"home"}` + extra + `}`
}

// A workspace throttling the token may not read, or that cannot be read,
// never holds events back: they are delivered, at the configured pace when
// there is one, at the last pace read when there was one, unpaced
// otherwise; the client's metrics say the pace is not known.
func TestThrottlingReadFailureNeverHoldsEvents(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mutate     func(*chsandbox.Config)
		change     func(*Options)
		pace       int
		known      bool
		unreadable string // the reason counted, "" for no failed read
	}{
		{"token may not read it", func(c *chsandbox.Config) { c.Forbidden = []string{chsandbox.OpThrottling} }, nil, -1, false, "unauthorized"},
		{"read fails", nil, func(o *Options) { o.Paths.Throttling = "/workspaces/{workspaceId}/no-such-thing" }, -1, false, "error"},
		{"configured pace, never read", func(c *chsandbox.Config) {
			c.Forbidden, c.MaxRequestsPerMinute = []string{chsandbox.OpThrottling}, 1200
		}, func(o *Options) { o.MaxRequestsPerMinute = 1200 }, 1200, true, ""},
		{"readable", func(c *chsandbox.Config) { c.MaxRequestsPerMinute = 1200 }, nil, 1200, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newEventsHarness(t, tc.mutate, tc.change)
			values := make([]string, 30)
			for i := range values {
				values[i] = eventValue(fmt.Sprintf(`,"date":"2024-05-01T10:00:%02dZ"`, i))
			}
			for i, err := range h.write(t, values...) {
				if err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
			}
			st := h.sb.Contacthub.Stats()
			if st.Accepted != int64(len(values)) || st.Throttled != 0 {
				t.Fatalf("accepted %d, throttled %d", st.Accepted, st.Throttled)
			}
			f := h.client.ThrottlingReadFailures()
			if h.client.Pace() != tc.pace || h.client.PaceKnown() != tc.known || (tc.unreadable != "" && f[tc.unreadable] != 1) || (tc.unreadable == "" && len(f) != 0) {
				t.Fatalf("pace %d known %v failures %v; want %d %v %q", h.client.Pace(), h.client.PaceKnown(), f, tc.pace, tc.known, tc.unreadable)
			}
		})
	}
}

// Once read, a pace is kept when the throttling can no longer be read.
func TestThrottlingLastPaceKept(t *testing.T) {
	h := newEventsHarness(t, func(c *chsandbox.Config) { c.MaxRequestsPerMinute = 6000 }, func(o *Options) { o.ThrottlingRefresh = 10 * time.Millisecond })
	if errs := h.write(t, eventValue("")); errs[0] != nil {
		t.Fatal(errs[0])
	}
	h.sb.Contacthub.SetForbidden(chsandbox.OpThrottling)
	deadline := time.Now().Add(5 * time.Second)
	for h.client.ThrottlingReadFailures()["unauthorized"] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the throttling was not read again")
		}
		if errs := h.write(t, eventValue("")); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	if h.client.Pace() != 6000 || h.client.PaceKnown() {
		t.Fatalf("pace %d known %v, want the last one read, 6000, not known", h.client.Pace(), h.client.PaceKnown())
	}
}

// A 403 about one record (bringBackProperties on an aggregate node) is
// dead-lettered with the API's answer and logref, once a cheap read shows
// the token works; a 403 whose token is refused for that read too pauses.
// With forbidden: pause, every 403 pauses.
func TestEventsSinkTellsForbiddenRecordsFromRefusedTokens(t *testing.T) {
	onAggregate := `{"bringBackProperties":{"type":"SESSION_ID","value":"s-1","nodeId":"` + aggregateNode + `"},"type":"viewedPage","context":"WEB","properties":{}}`
	for _, tc := range []struct {
		name      string
		forbidden []string // operations the token may not use
		policy    string
		want      delivery.Action
	}{
		{"record refused, token fine", nil, "", delivery.DeadLetter},
		// The throttling read is refused, the last-offset read is not.
		{"record refused, throttling unreadable", []string{chsandbox.OpThrottling}, ForbiddenProbe, delivery.DeadLetter},
		{"token refused everywhere", []string{chsandbox.OpEvents, chsandbox.OpThrottling, chsandbox.OpLastOffset}, "", delivery.Pause},
		{"every 403 pauses", nil, ForbiddenPause, delivery.Pause},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newEventsHarness(t, func(c *chsandbox.Config) { c.AggregateNodes, c.Forbidden = []string{aggregateNode}, tc.forbidden },
				func(o *Options) { o.Forbidden = tc.policy })
			errs := h.write(t, onAggregate, onAggregate, eventValue(""))
			for _, err := range errs[:2] {
				if got := delivery.Classify(err); got != tc.want || delivery.StatusOf(err) != 403 || !strings.Contains(err.Error(), "(logref ") {
					t.Fatalf("outcome %v (%v), want %v with the 403 and its logref", got, err, tc.want)
				}
			}
			if tc.want == delivery.DeadLetter && (errs[2] != nil || delivery.ReasonOf(errs[0]) != "rejected") {
				t.Fatalf("other record: %v; reason %q", errs[2], delivery.ReasonOf(errs[0]))
			}
		})
	}
}

// What is sent is what the reference documents: no member null where the
// reference allows no null, the limit on the body as sent, and the API's
// logref kept in a refusal.
func TestEventsSinkSendsTheReferenceBody(t *testing.T) {
	pad := func(n int, extra string) string {
		v := eventValue(extra)
		return strings.Replace(v, `"page":"home"`, `"page":"`+strings.Repeat("x", n-len(v)+len("home"))+`"`, 1)
	}
	t.Run("nulls dropped", func(t *testing.T) {
		h := newEventsHarness(t, nil, nil)
		v := `{"customerId":null,"bringBackProperties":{"type":"SESSION_ID","value":"s-1","nodeId":"` + sandbox.NodeID +
			`"},"type":"viewedPage","context":"WEB","properties":{},"contextInfo":null,"tracking":{"ga":{"utm_source":null,"utm_medium":"email"}}}`
		if errs := h.write(t, v); errs[0] != nil {
			t.Fatalf("the witness refused it: %v", errs[0])
		}
		body, _ := schemas.CreateEventBody([]byte(v), DefaultMaxEventBytes)
		if h.sb.Contacthub.AcceptedCount(body) != 1 || strings.Contains(string(body), "null") {
			t.Fatalf("sent %s", body)
		}
	})
	t.Run("limit on the body as sent", func(t *testing.T) {
		h := newEventsHarness(t, nil, nil)
		// Over 64 KiB only by a null member, which is not sent.
		const null = `,"contextInfo":null`
		v := pad(DefaultMaxEventBytes+len(null), null)
		if len(v) <= DefaultMaxEventBytes {
			t.Fatal("the case shows nothing")
		}
		if errs := h.write(t, v); errs[0] != nil {
			t.Fatal(errs[0])
		}
		errs := h.write(t, pad(DefaultMaxEventBytes+1, ""))
		if delivery.Classify(errs[0]) != delivery.DeadLetter || delivery.ReasonOf(errs[0]) != "too_large" || h.sb.Contacthub.Stats().Rejected != 0 {
			t.Fatalf("one byte over: %v (reason %q), or sent anyway", errs[0], delivery.ReasonOf(errs[0]))
		}
	})
	// 64kB read as 64,000 bytes by the API: the connector, reading 64 KiB,
	// sends the body and the 413 dead-letters it with the API's logref.
	// Configured as 64,000 too, it never sends it.
	t.Run("the API reads 64kB as 64000", func(t *testing.T) {
		for _, limit := range []int{0, 64000} {
			h := newEventsHarness(t, func(c *chsandbox.Config) { c.MaxEventBytes = 64000 }, func(o *Options) { o.MaxEventBytes = limit })
			errs := h.write(t, pad(64500, ""))
			sent := h.sb.Contacthub.Stats().Rejected
			if delivery.ReasonOf(errs[0]) != "too_large" || delivery.Classify(errs[0]) != delivery.DeadLetter ||
				(limit == 0 && (sent != 1 || !strings.Contains(errs[0].Error(), "(logref "))) || (limit != 0 && sent != 0) {
				t.Fatalf("limit %d: %v, %d refused by the API", limit, errs[0], sent)
			}
		}
	})
}

// Records that are not I-JSON (RFC 7493) are dead-lettered as invalid,
// with the path of the offending value, and never sent: Contacthub might
// read them otherwise than this connector does (issue 11).
func TestEventsSinkRejectsNonIJSON(t *testing.T) {
	withPage := func(page string) string {
		return strings.Replace(eventValue(""), `"page":"home"`, `"page":`+page, 1)
	}
	cases := []struct {
		name, value string
		want        schemas.Violation
	}{
		{"invalid UTF-8", eventValue(`,"contextInfo":{"client":{"userAgent":"` + "\xff" + `"}}`),
			schemas.Violation{Path: "$.contextInfo.client.userAgent", Rule: "string must be valid UTF-8"}},
		{"lone high surrogate", withPage(`"\ud800"`),
			schemas.Violation{Path: "$.properties.page", Rule: "string must not hold an unpaired surrogate escape"}},
		{"lone low surrogate in a name", withPage(`{"\udc00":1}`),
			schemas.Violation{Path: "$.properties.page.\uFFFD", Rule: "member name must not hold an unpaired surrogate escape"}},
		{"number out of range", eventValue(`,"tracking":{"score":[1,-1e999]}`),
			schemas.Violation{Path: "$.tracking.score[1]", Rule: "number must be within the range of an IEEE 754 double"}},
		{"duplicate at depth 3, escaped", withPage(`{"a":{"b":1,"\u0062":2}}`),
			schemas.Violation{Path: "$.properties.page.a.b", Rule: "duplicate member name"}},
	}
	h := newEventsHarness(t, nil, nil)
	// Underflow rounds to 0 and a surrogate pair is one character: I-JSON.
	values := []string{withPage(`{"tiny":1e-400,"smile":"\ud83d\ude00"}`)}
	for _, tc := range cases {
		values = append(values, tc.value)
	}
	errs := h.write(t, values...)
	if errs[0] != nil {
		t.Fatalf("the valid event: %v", errs[0])
	}
	for i, tc := range cases {
		err := errs[i+1]
		var ve *schemas.ValidationError
		if delivery.Classify(err) != delivery.DeadLetter || delivery.ReasonOf(err) != "invalid" || !errors.As(err, &ve) {
			t.Errorf("%s: %v (reason %q), want invalid with a *schemas.ValidationError", tc.name, err, delivery.ReasonOf(err))
			continue
		}
		if len(ve.Violations) != 1 || ve.Violations[0] != tc.want {
			t.Errorf("%s: violations %q, want %q", tc.name, ve.Violations, tc.want)
		}
	}
	if st := h.sb.Contacthub.Stats(); st.Accepted != 1 || st.Rejected != 0 {
		t.Fatalf("the API accepted %d and refused %d events; want only the valid one sent", st.Accepted, st.Rejected)
	}
}

// Errors of every Contacthub call keep the API's logref.
func TestCallErrorsKeepTheLogref(t *testing.T) {
	h := newEventsHarness(t, func(c *chsandbox.Config) { c.Forbidden = []string{chsandbox.OpLastOffset} }, nil)
	_, err := h.client.LastOffset(context.Background(), "", "")
	if !errors.Is(err, streams.ErrUnauthorized) || !strings.Contains(err.Error(), "(logref ") {
		t.Fatalf("error %v, want the 403 with its logref", err)
	}
}

// Every request shares the client's two headers (requestHeaders): after
// calls that succeed, fail and are refused, they are still what they were
// built as, so that no request saw another's changes.
func TestSharedRequestHeadersStayAsBuilt(t *testing.T) {
	h := newEventsHarness(t, func(c *chsandbox.Config) { c.AggregateNodes = []string{aggregateNode} }, nil)
	onAggregate := `{"bringBackProperties":{"type":"SESSION_ID","value":"s-1","nodeId":"` + aggregateNode + `"},"type":"viewedPage","context":"WEB","properties":{}}`
	errs := h.write(t, eventValue(""), onAggregate, eventValue(""))
	if errs[0] != nil || delivery.StatusOf(errs[1]) != 403 {
		t.Fatalf("outcomes %v: want a delivery and a 403", errs)
	}
	if _, err := h.client.LastOffset(context.Background(), "", "CUSTOMER"); err != nil {
		t.Fatal(err)
	}
	want := requestHeaders("Bearer " + SandboxClientOptions(h.sb).Token)
	if !reflect.DeepEqual(h.client.headers, want) {
		t.Fatalf("the shared headers are now %v, want %v", h.client.headers, want)
	}
}
