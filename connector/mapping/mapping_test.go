package mapping

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/delivery"
)

func mustCompile(t testing.TB, src string) *Program {
	t.Helper()
	p, err := Compile("test", src)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func record(value string, headers ...string) *streams.Record {
	r := &streams.Record{Topic: "orders", Partition: 2, Offset: 41, Key: []byte("c-1"), Value: []byte(value),
		Time: time.Date(2026, 11, 23, 10, 0, 0, 123e6, time.UTC)}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Headers = append(r.Headers, streams.Header{Key: headers[i], Value: []byte(headers[i+1])})
	}
	return r
}

// outcomes collects what done was told, per record.
type outcomes struct {
	mu  sync.Mutex
	got map[*streams.Record][]error
}

func newOutcomes() *outcomes { return &outcomes{got: map[*streams.Record][]error{}} }

func (o *outcomes) done(r *streams.Record, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got[r] = append(o.got[r], err)
}

func (o *outcomes) of(r *streams.Record) []error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]error(nil), o.got[r]...)
}

// heldSink is a wrapped sink whose outcomes the test gives, one call at a
// time: what Write received waits in calls until the test answers it.
type heldSink struct {
	streams.NopLifecycle
	mu    sync.Mutex
	calls []heldCall
	sent  []string
}

type heldCall struct {
	batch []*streams.Record
	done  streams.Done
}

func (h *heldSink) Write(_ context.Context, batch []*streams.Record, done streams.Done) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, heldCall{batch, done})
	for _, r := range batch {
		h.sent = append(h.sent, string(r.Value))
	}
}

func (h *heldSink) last(t *testing.T) heldCall {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.calls) == 0 {
		t.Fatal("the wrapped sink got no Write")
	}
	return h.calls[len(h.calls)-1]
}

func (h *heldSink) values() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.sent...)
}

// perValue answers each output at once, by its value.
type perValue func(value string) error

func (perValue) Start(context.Context, *streams.Background) error { return nil }
func (perValue) Drain()                                           {}
func (perValue) Close() error                                     { return nil }
func (f perValue) Write(_ context.Context, batch []*streams.Record, done streams.Done) {
	for _, r := range batch {
		done(r, f(string(r.Value)))
	}
}

func TestInputDocument(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rec     *streams.Record
		program string
		want    []string
	}{
		{"value, key, headers and position", record(`{"orderId":"o-1","total":12.50,"big":12345678901234567890}`, "trace", "t-9", "trace", "second"),
			`{k: .key, id: .value.orderId, total: .value.total, big: .value.big, h: .headers.trace, at: "\(.topic)/\(.partition)@\(.offset)", ts: .timestamp}`,
			[]string{`{"at":"orders/2@41","big":12345678901234567890,"h":"t-9","id":"o-1","k":"c-1","total":12.50,"ts":"2026-11-23T10:00:00.123Z"}`}},
		{"a value that is not JSON is raw", record(`plain text, not json`), `{raw: .raw, value: .value}`,
			[]string{`{"raw":"plain text, not json","value":null}`}},
		{"an empty value (tombstone) is null, no raw", record(``), `{value, has: has("raw")}`,
			[]string{`{"has":false,"value":null}`}},
		{"no key is null", &streams.Record{Value: []byte(`1`)}, `[.key, .timestamp, (.headers|length)]`,
			[]string{`[null,null,0]`}},
		{"CloudEvent, binary mode", record(`{"orderId":"o-2"}`, "ce_specversion", "1.0", "ce_id", "e-1", "ce_source", "/shop", "ce_type", "com.example.order.placed",
			"ce_time", "2026-11-23T09:59:00Z", "ce_subject", "c-1", "ce_tenant", "eu", "content-type", "application/json"),
			`{ce, data, value: .value.orderId}`,
			[]string{`{"ce":{"datacontenttype":"application/json","id":"e-1","source":"/shop","specversion":"1.0","subject":"c-1","tenant":"eu","time":"2026-11-23T09:59:00Z","type":"com.example.order.placed"},"data":{"orderId":"o-2"},"value":"o-2"}`}},
		{"CloudEvent, structured mode", record(`{"specversion":"1.0","id":"e-2","source":"/crm","type":"com.example.customer.updated","datacontenttype":"application/json","data":{"customerId":"c-7"}}`,
			"content-type", "application/cloudevents+json; charset=utf-8"),
			`{type: .ce.type, id: .ce.id, data}`,
			[]string{`{"data":{"customerId":"c-7"},"id":"e-2","type":"com.example.customer.updated"}`}},
		{"CloudEvent, structured mode with text data", record(`{"specversion":"1.0","id":"e-3","source":"/x","type":"t","datacontenttype":"text/plain","data":"hello"}`,
			"content-type", "application/cloudevents+json"),
			`.data`, []string{`"hello"`}},
		{"not a CloudEvent: no ce or data", record(`{"a":1}`), `[has("ce"), has("data")]`, []string{`[false,false]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := Input(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			outs, err := mustCompile(t, tc.program).Run(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if len(outs) != len(tc.want) {
				t.Fatalf("%d outputs, want %d: %q", len(outs), len(tc.want), outs)
			}
			for i := range outs {
				if string(outs[i]) != tc.want[i] {
					t.Errorf("output[%d]\n got %s\nwant %s", i, outs[i], tc.want[i])
				}
			}
		})
	}
}

func TestInvalidCloudEvent(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  *streams.Record
		want string
	}{
		{"binary mode without id and source", record(`{}`, "ce_specversion", "1.0", "ce_type", "t"), "binary mode: id: MUST be a non-empty string; source: REQUIRED"},
		{"binary mode, unknown specversion", record(`{}`, "ce_specversion", "2.0"), `specversion "2.0"`},
		{"binary mode, bad time", record(`{}`, "ce_specversion", "1.0", "ce_id", "1", "ce_source", "/s", "ce_type", "t", "ce_time", "yesterday"), "header ce_time"},
		{"structured mode, not JSON", record(`{not json`, "content-type", "application/cloudevents+json"), "structured mode"},
		{"structured mode without type", record(`{"specversion":"1.0","id":"1","source":"/s"}`, "content-type", "application/cloudevents+json"), "type: MUST be a non-empty string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Input(tc.rec)
			if !errors.Is(err, streams.ErrCloudEvent) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an ErrCloudEvent naming %q", err, tc.want)
			}
			// Through Wrap: dead-lettered as a mapping error, nothing sent.
			h := &heldSink{}
			o := newOutcomes()
			tc.rec.Attempts = 1
			Wrap(h, mustCompile(t, `.value`)).Write(context.Background(), []*streams.Record{tc.rec}, o.done)
			got := o.of(tc.rec)
			if len(got) != 1 || delivery.ReasonOf(got[0]) != "mapping" || len(h.values()) != 0 {
				t.Fatalf("outcome %v, sent %q", got, h.values())
			}
		})
	}
}

func TestCompileNamesTheLine(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		line, col int
		want      string
	}{
		{"unexpected token", "{\n  type: \"completedOrder\",\n  properties: {total: .value.total]\n}", 3, 35, `unexpected token "]"`},
		{"unterminated string", ".value |\n\"abc", 2, 5, "unterminated string literal"},
		{"unexpected end", "{a: .b", 1, 7, "unexpected EOF"},
		{"undefined function: no line from jq", ".value | nosuchfunction", 0, 0, "function not defined: nosuchfunction/0"},
		{"empty", "  \n", 0, 0, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile("sinks[0].mapping", tc.src)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *SyntaxError", err)
			}
			if se.Line != tc.line || se.Column != tc.col || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sinks[0].mapping: ") {
				t.Fatalf("got %q (line %d, column %d), want line %d column %d and %q", err, se.Line, se.Column, tc.line, tc.col, tc.want)
			}
		})
	}
}

func TestRunLimits(t *testing.T) {
	in, _ := Input(record(`{}`))
	for _, tc := range []struct {
		name, src, want string
		outputs         int
	}{
		{"halt ends the outputs", `1, 2, halt, 3`, "", 2},
		{"error() is a mapping error with its message", `error("order has no customer")`, "order has no customer", 0},
		{"too many outputs", `range(MaxOutputsPlusOne)`, "more than 1000 outputs", 0},
		{"a loop that never ends", `last(range(1; infinite))`, "ran longer than its time limit", 0},
		{"no environment", `$ENV | length`, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.ReplaceAll(tc.src, "MaxOutputsPlusOne", fmt.Sprint(MaxOutputs+1))
			p := mustCompile(t, src)
			p.timeout = 100 * time.Millisecond
			outs, err := p.Run(context.Background(), in)
			if tc.want == "" {
				if err != nil || len(outs) != tc.outputs {
					t.Fatalf("got %q, %v; want %d outputs", outs, err, tc.outputs)
				}
				if tc.name == "no environment" && string(outs[0]) != "0" {
					t.Fatalf("$ENV has %s entries", outs[0])
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, %v; want an error naming %q", outs, err, tc.want)
			}
		})
	}
}

var errServer = errors.New("HTTP 503")

// The outcome of a record through Wrap, for every shape of its outputs'
// outcomes.
func TestWrapOutcomes(t *testing.T) {
	const items = `{"orderId":"o-1","items":[{"sku":"a"},{"sku":"b"},{"sku":"c"}],"test":false}`
	fanOut := `.value as $o | $o.items[] | {order: $o.orderId, sku}`
	invalidIfSkuB := func(v []byte) error {
		if strings.Contains(string(v), `"sku":"b"`) {
			return errors.New(`event: $.properties.sku: must not be b`)
		}
		return nil
	}
	for _, tc := range []struct {
		name    string
		program string
		value   string
		check   Check
		answer  perValue
		reason  string // "" delivered, "filtered", "retry", else the dead-letter reason
		errHas  string
		sent    int
	}{
		{name: "one output delivered", program: `.value`, value: `{"a":1}`, sent: 1},
		{name: "a run out of time is retried, not dead-lettered", program: `last(range(1; infinite))`, value: `{}`, reason: "retry", errHas: "ran longer than"},
		{name: "no output is filtered", program: `select(.value.test != true) | .value`, value: `{"test":true}`, reason: "filtered"},
		{name: "fan-out, every output delivered", program: fanOut, value: items, sent: 3},
		{name: "mapping error: jq's message", program: `.value.orderId | tonumber`, value: items, reason: "mapping", errHas: `tonumber cannot be applied to "o-1"`},
		{name: "an output the schema refuses: invalid, nothing sent", program: fanOut, value: items, check: invalidIfSkuB, reason: "invalid",
			errHas: `output[1]: event: $.properties.sku: must not be b`},
		{name: "an output the API rejects: dead-lettered with its reason", program: fanOut, value: items,
			answer: func(v string) error {
				if strings.Contains(v, `"sku":"c"`) {
					return streams.Reject("rejected", errors.New("HTTP 400: unknown sku"))
				}
				return nil
			}, reason: "rejected", errHas: "output[2]: HTTP 400: unknown sku", sent: 3},
		{name: "an output failing for a while: retried", program: fanOut, value: items,
			answer: func(v string) error {
				if strings.Contains(v, `"sku":"a"`) {
					return errServer
				}
				return nil
			}, reason: "retry", errHas: "output[0]: HTTP 503", sent: 3},
		{name: "a refused credential goes before a retry", program: fanOut, value: items,
			answer: func(v string) error {
				if strings.Contains(v, `"sku":"a"`) {
					return delivery.RetryAfter(time.Minute, errServer)
				}
				return fmt.Errorf("HTTP 401: %w", streams.ErrUnauthorized)
			}, reason: "retry", errHas: "output[1]: HTTP 401", sent: 3},
		{name: "the longest Retry-After", program: fanOut, value: items,
			answer: func(v string) error {
				if strings.Contains(v, `"sku":"b"`) {
					return delivery.RetryAfter(time.Minute, errServer)
				}
				return delivery.RetryAfter(time.Second, errServer)
			}, reason: "retry", errHas: "output[1]", sent: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent []string
			answer := tc.answer
			if answer == nil {
				answer = func(string) error { return nil }
			}
			inner := perValue(func(v string) error { sent = append(sent, v); return answer(v) })
			var opts []Option
			if tc.check != nil {
				opts = append(opts, WithCheck(tc.check))
			}
			prog := mustCompile(t, tc.program)
			prog.timeout = 100 * time.Millisecond
			w := Wrap(inner, prog, opts...)
			r := record(tc.value)
			r.Attempts = 1
			o := newOutcomes()
			w.Write(context.Background(), []*streams.Record{r}, o.done)
			got := o.of(r)
			if len(got) != 1 {
				t.Fatalf("%d outcomes, want exactly one: %v", len(got), got)
			}
			err := got[0]
			switch tc.reason {
			case "":
				if err != nil {
					t.Fatalf("outcome %v, want delivered", err)
				}
			case "filtered":
				if !errors.Is(err, streams.ErrFiltered) {
					t.Fatalf("outcome %v, want filtered", err)
				}
			case "retry":
				if a := delivery.Classify(err); a != delivery.Retry && a != delivery.Pause {
					t.Fatalf("outcome %v (%s), want a retry", err, a)
				}
			default:
				if delivery.Classify(err) != delivery.DeadLetter || delivery.ReasonOf(err) != tc.reason {
					t.Fatalf("outcome %v (reason %s), want dead-lettered as %s", err, delivery.ReasonOf(err), tc.reason)
				}
			}
			if tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)) {
				t.Fatalf("outcome %v, want it to name %q", err, tc.errHas)
			}
			if len(sent) != tc.sent {
				t.Fatalf("sent %d outputs, want %d: %q", len(sent), tc.sent, sent)
			}
		})
	}
}

// What a mapping outputs is checked by the sink's decoder, so it is held to
// I-JSON (RFC 7493) like a record sent unmapped (issue 11). gojq.Marshal
// cannot write invalid UTF-8, an unpaired surrogate or a name twice: the
// input is read by encoding/json, which replaces the first two and keeps
// the last of duplicates, and objects are maps. Numbers are its one way
// out of I-JSON: an input number is kept as written, and arithmetic on
// integers is exact, so a result can be beyond a double.
func TestMappingOutputsAreIJSON(t *testing.T) {
	const event = `{customerId: "87d8e330-2878-4742-a86f-dbbb3bf522ac", type: "viewedPage", context: "WEB", properties: .value}`
	check := func(v []byte) error {
		_, err := schemas.DecodeEvent(v)
		return err
	}
	big := "2" + strings.Repeat("0", 200)
	for _, tc := range []struct {
		name, program, value string
		want                 *schemas.Violation // nil: delivered
	}{
		{name: "number kept as written", program: event, value: `{"n":1e999}`,
			want: &schemas.Violation{Path: "$.properties.n", Rule: "number must be within the range of an IEEE 754 double"}},
		{name: "exact integer arithmetic", program: event + ` | .properties.n |= . * .`, value: `{"n":` + big + `}`,
			want: &schemas.Violation{Path: "$.properties.n", Rule: "number must be within the range of an IEEE 754 double"}},
		{name: "underflow is I-JSON", program: event, value: `{"n":1e-400}`},
		{name: "invalid UTF-8 replaced", program: event, value: "{\"s\":\"\xff\"}"},
		{name: "lone surrogate replaced", program: event, value: `{"s":"\ud800"}`},
		{name: "duplicate resolved", program: event, value: `{"s":{"a":1,"\u0061":2}}`},
		{name: "raw value with invalid UTF-8", program: `{customerId: "87d8e330-2878-4742-a86f-dbbb3bf522ac", type: "viewedPage", context: "WEB", properties: {raw}}`, value: "not JSON \xff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := Wrap(perValue(func(string) error { return nil }), mustCompile(t, tc.program), WithCheck(check))
			outs, err := w.Outputs(context.Background(), record(tc.value))
			if tc.want == nil {
				if err != nil || len(outs) != 1 {
					t.Fatalf("outputs %q, %v; want one delivered", outs, err)
				}
				return
			}
			var ve *schemas.ValidationError
			if delivery.Classify(err) != delivery.DeadLetter || delivery.ReasonOf(err) != "invalid" || !errors.As(err, &ve) {
				t.Fatalf("outputs %q, %v (reason %s); want invalid with a *schemas.ValidationError", outs, err, delivery.ReasonOf(err))
			}
			if len(ve.Violations) != 1 || ve.Violations[0] != *tc.want {
				t.Fatalf("violations %q, want %q", ve.Violations, *tc.want)
			}
		})
	}
}

// The original's outcome waits for the last output's: its offset cannot
// be committed while any output is unfinished.
func TestFanOutReportsAfterEveryOutput(t *testing.T) {
	h := &heldSink{}
	w := Wrap(h, mustCompile(t, `.value[]`))
	r := record(`[1,2,3]`)
	r.Attempts = 1
	o := newOutcomes()
	w.Write(context.Background(), []*streams.Record{r}, o.done)
	call := h.last(t)
	if len(call.batch) != 3 {
		t.Fatalf("the wrapped sink got %d records, want 3", len(call.batch))
	}
	for i, d := range call.batch {
		if d.Topic != r.Topic || d.Partition != r.Partition || d.Offset != r.Offset || string(d.Key) != string(r.Key) || d.Attempts != 1 {
			t.Fatalf("output %d does not carry the original's position and key: %+v", i, d)
		}
	}
	// Outcomes in any order, from other goroutines.
	for _, i := range []int{2, 0} {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); call.done(call.batch[i], nil) }()
		wg.Wait()
		if got := o.of(r); len(got) != 0 {
			t.Fatalf("reported %v after %d of 3 outputs", got, i)
		}
	}
	call.done(call.batch[1], nil)
	if got := o.of(r); len(got) != 1 || got[0] != nil {
		t.Fatalf("outcomes %v, want delivered once", got)
	}
}

// A retry sends only the outputs that were not delivered, without running
// the program again.
func TestRetrySendsOnlyTheFailedOutputs(t *testing.T) {
	h := &heldSink{}
	w := Wrap(h, mustCompile(t, `.value[]`))
	r := record(`["a","b","c"]`)
	o := newOutcomes()

	r.Attempts = 1
	w.Write(context.Background(), []*streams.Record{r}, o.done)
	call := h.last(t)
	call.done(call.batch[0], nil)
	call.done(call.batch[1], errServer)
	call.done(call.batch[2], nil)
	if got := o.of(r); len(got) != 1 || !errors.Is(got[0], errServer) {
		t.Fatalf("outcomes %v, want one retry", got)
	}
	if w.Owed() != 1 {
		t.Fatalf("%d records owe outputs, want 1", w.Owed())
	}

	r.Attempts = 2 // as the runtime counts
	w.Write(context.Background(), []*streams.Record{r}, o.done)
	call = h.last(t)
	if len(call.batch) != 1 || string(call.batch[0].Value) != `"b"` || call.batch[0].Attempts != 2 {
		t.Fatalf("the retry sent %d records (%q), want only output[1]", len(call.batch), h.values())
	}
	call.done(call.batch[0], nil)
	if got := o.of(r); len(got) != 2 || got[1] != nil {
		t.Fatalf("outcomes %v, want delivered after the retry", got)
	}
	if w.Owed() != 0 {
		t.Fatalf("%d records owe outputs after delivery", w.Owed())
	}
}

// A record the runtime gives up on (retries exhausted, dead-lettered) is
// never handed back: what it owed is forgotten once the runtime lets go
// of it.
func TestOwedOutputsForgottenWithTheRecord(t *testing.T) {
	h := &heldSink{}
	w := Wrap(h, mustCompile(t, `.value[]`))
	o := newOutcomes()
	func() {
		r := record(`[1,2]`)
		r.Attempts = 1
		w.Write(context.Background(), []*streams.Record{r}, o.done)
		call := h.last(t)
		call.done(call.batch[0], errServer)
		call.done(call.batch[1], nil)
	}()
	if w.Owed() != 1 {
		t.Fatalf("%d records owe outputs, want 1", w.Owed())
	}
	h.mu.Lock()
	h.calls = nil // the test's own references to the record go too
	h.mu.Unlock()
	o.mu.Lock()
	clear(o.got)
	o.mu.Unlock()
	testkit.WaitFor(t, 10*time.Second, "the owed outputs to be forgotten", func() (bool, string) {
		runtime.GC()
		return w.Owed() == 0, fmt.Sprint(w.Owed())
	})
}

// Many records with several outputs, outcomes from many goroutines in any
// order: each original gets exactly one outcome (run with -race).
func TestWrapConcurrentOutcomes(t *testing.T) {
	var mu sync.Mutex
	var pending []func()
	h := &heldSink{}
	w := Wrap(h, mustCompile(t, `range(.value) | {n: .}`))
	o := newOutcomes()
	var recs []*streams.Record
	for i := range 200 {
		r := record(fmt.Sprint(i%5 + 1))
		r.Offset = int64(i)
		r.Attempts = 1
		recs = append(recs, r)
	}
	for i := 0; i < len(recs); i += 20 {
		w.Write(context.Background(), recs[i:i+20], o.done)
	}
	for _, c := range h.calls {
		for _, d := range c.batch {
			mu.Lock()
			pending = append(pending, func() { c.done(d, nil) })
			mu.Unlock()
		}
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < len(pending); j += 8 {
				pending[len(pending)-1-j]()
			}
		}()
	}
	wg.Wait()
	for _, r := range recs {
		if got := o.of(r); len(got) != 1 || got[0] != nil {
			t.Fatalf("record %d: outcomes %v, want delivered once", r.Offset, got)
		}
	}
}

type partSink struct {
	heldSink
	parts []streams.Part
}

func (p *partSink) Parts() []streams.Part { return p.parts }

type namedPart string

func (n namedPart) Name() string          { return string(n) }
func (n namedPart) Ready() (bool, string) { return true, "" }

// The wrapped sink's parts (job followers) stay visible on /readyz.
func TestWrapKeepsParts(t *testing.T) {
	inner := &partSink{parts: []streams.Part{namedPart("ups/job-follower")}}
	if ps := Wrap(inner, mustCompile(t, `.value`)).Parts(); len(ps) != 1 || ps[0].Name() != "ups/job-follower" {
		t.Fatalf("parts %v", ps)
	}
	if ps := Wrap(&heldSink{}, mustCompile(t, `.value`)).Parts(); ps != nil {
		t.Fatalf("parts %v of a sink with none", ps)
	}
}
