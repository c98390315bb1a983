package contacthub

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testWorkspace = "2f8e7a0c-3b1d-4a51-9d0e-6f7c8b9a0d1e"

// recordsPage has one update of each kind the builder treats differently.
const recordsPage = `{"nextOffset": 9, "updates": [
 {"offset": 1, "operation": "CREATE", "entity": {"type": "CUSTOMER", "data": {"id": "c0"}}},
 {"offset": 2, "operation": "CREATE", "entity": {"type": "CUSTOMER", "data": {"id": "c1", "nodeId": "n1", "base": {"firstName": "Ada <3 & \"co\""}}}},
 {"offset": 3, "operation": "UPDATE", "entity": {"type": "EVENT", "data": {"id": "e1", "customerId": "c1", "type": "viewedPage"}}},
 {"offset": 4, "operation": "DELETE", "entity": {"type": "CUSTOMER", "data": {"id": "c1", "nodeId": "n1"}}},
 {"offset": 5, "operation": "CREATE", "entity": {"type": "EVENT", "data": {"id": "e2", "customerId": null}}},
 {"offset": 6, "operation": "MERGE", "entity": {"type": "CUSTOMER", "data": {"id": "c2"}}},
 {"offset": 7, "operation": "UPDATE", "entity": {"type": "CUSTOMER", "data": {"nodeId": "n1"}}},
 {"offset": 8, "operation": "UPDATE", "entity": {"type": "EVENT", "data": {"id": "e3", "customerId": 42}}},
 {"offset": 9, "operation": "UPDATE", "entity": {"type": "CUSTOMER", "data": ["c3"]}}
]}`

var readAt = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func buildTestPage(t *testing.T, b recordBuilder, page string, after int64) (*pageRecords, []skippedUpdate) {
	t.Helper()
	p, err := schemas.DecodeStreamPage([]byte(page))
	if err != nil {
		t.Fatal(err)
	}
	var skipped []skippedUpdate
	return b.build(p, after, readAt, func(s skippedUpdate) { skipped = append(skipped, s) }), skipped
}

// The records of a page are pinned by a golden file: topic, key, headers
// and value, byte for byte, as consumers receive them.
func TestPageRecordsGolden(t *testing.T) {
	b := newRecordBuilder("customers", "events", testWorkspace, "", true)
	pr, skipped := buildTestPage(t, b, recordsPage, 1)
	var got strings.Builder
	// A line per record: topic, key and headers as JSON, then the value as
	// it is on the wire (null for a tombstone).
	for _, m := range pr.msgs {
		meta := map[string]any{"topic": m.Topic, "key": nil, "headers": streamstest.Headers(m)}
		if m.Key != nil {
			meta["key"] = string(m.Key)
		}
		enc, err := json.Marshal(meta)
		if err != nil {
			t.Fatalf("record %+v: %v", m, err)
		}
		got.Write(enc)
		got.WriteByte(' ')
		if m.Value == nil {
			got.WriteString("null")
		}
		got.Write(m.Value)
		got.WriteByte('\n')
	}
	testkit.Golden(t, filepath.Join("testdata", "page_records.golden"), []byte(got.String()), *update)

	// Offset 1 was known; 6..9 do not make valid envelopes.
	if want := map[string]int{skipRepeated: 1, skipInvalid: 4}; !maps.Equal(pr.skipped, want) {
		t.Fatalf("skipped %v, want %v", pr.skipped, want)
	}
	if len(skipped) != 5 || skipped[1].offset != 6 || !errors.As(skipped[1].err, new(*schemas.ValidationError)) {
		t.Fatalf("skipped updates reported as %+v", skipped)
	}
	if pr.last != 9 || pr.published != 4 || pr.customers != 3 || pr.events != 2 || pr.updates != 9 {
		t.Fatalf("page: last %d, published %d, customers %d, events %d, updates %d", pr.last, pr.published, pr.customers, pr.events, pr.updates)
	}
}

// With a dead-letter topic, the updates that make no valid envelope are
// written there as read, with the reason and their offset, after the
// records of the page that precede them: nothing the stream carried is lost.
func TestInvalidUpdatesAreDeadLettered(t *testing.T) {
	b := newRecordBuilder("customers", "events", testWorkspace, "", true)
	b.deadLetterTopic, b.source = "updates.dlq", "updates"
	pr, _ := buildTestPage(t, b, recordsPage, 1)
	var offsets []string
	for _, m := range pr.msgs {
		if m.Topic != "updates.dlq" {
			continue
		}
		h := streamstest.Headers(m)
		if h[streams.HeaderDLQReason] != skipInvalid || h[streams.HeaderDLQError] == "" || h[streams.HeaderDLQPipeline] != "updates" || h[HeaderOffset] != h[streams.HeaderDLQOffset] {
			t.Fatalf("dead letter headers %v", h)
		}
		var u schemas.StreamUpdate
		if err := json.Unmarshal(m.Value, &u); err != nil || u.Operation == "" {
			t.Fatalf("dead letter value %s: %v", m.Value, err)
		}
		offsets = append(offsets, h[HeaderOffset])
	}
	if want := []string{"6", "7", "8", "9"}; !slices.Equal(offsets, want) {
		t.Fatalf("dead-lettered offsets %v, want %v", offsets, want)
	}
	if pr.deadLettered != 4 || pr.published != 4 {
		t.Fatalf("dead-lettered %d, published %d", pr.deadLettered, pr.published)
	}
}

// Every value is an envelope schemas accepts, with what json.Marshal of the
// UpdateEnvelope would say, and the headers and key agree with it.
func TestPageRecordsAreValidEnvelopes(t *testing.T) {
	b := newRecordBuilder("customers", "events", testWorkspace, "959356e3-6168-4a92-b4a5-b9d462be6177", true)
	pr, _ := buildTestPage(t, b, recordsPage, 0)
	page, _ := schemas.DecodeStreamPage([]byte(recordsPage))
	byOffset := map[int64]schemas.StreamUpdate{}
	for _, u := range page.Updates {
		byOffset[u.Offset] = u
	}
	for _, m := range pr.msgs {
		if m.Value == nil {
			continue
		}
		env, err := schemas.DecodeUpdateEnvelope(m.Value)
		if err != nil {
			t.Fatalf("%s: %v", m.Value, err)
		}
		u := byOffset[env.Offset]
		want := schemas.UpdateEnvelope{Operation: u.Operation, EntityType: u.Entity.Type, Offset: env.Offset, OffsetSource: schemas.OffsetSourceUpdate, Workspace: testWorkspace,
			NodeID: "959356e3-6168-4a92-b4a5-b9d462be6177", Data: u.Entity.Data, ReadAt: readAt}
		marshaled, err := json.Marshal(&want)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		_ = json.Unmarshal(marshaled, &a)
		_ = json.Unmarshal(m.Value, &b)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("envelope\n%s\nwant the meaning of\n%s", m.Value, marshaled)
		}
		h := streamstest.Headers(m)
		if h[HeaderOffset] != fmt.Sprint(env.Offset) || h[HeaderOperation] != env.Operation || h[HeaderEntityType] != env.EntityType || string(m.Key) != env.EntityKey() {
			t.Fatalf("headers %v and key %q disagree with %s", h, m.Key, m.Value)
		}
	}
}

func TestPageRecordsTombstones(t *testing.T) {
	for _, on := range []bool{true, false} {
		pr, _ := buildTestPage(t, newRecordBuilder("customers", "events", testWorkspace, "", on), recordsPage, 0)
		var nulls []kafka.Message
		for i, m := range pr.msgs {
			if m.Value != nil {
				continue
			}
			nulls = append(nulls, m)
			// Right after the DELETE of its customer, same topic and key.
			prev := pr.msgs[i-1]
			if i == 0 || prev.Topic != "customers" || string(prev.Key) != string(m.Key) || streamstest.Headers(prev)[HeaderOperation] != schemas.OperationDelete {
				t.Fatalf("tombstone %d not after its DELETE: %+v", i, prev)
			}
		}
		if want := map[bool]int{true: 1, false: 0}[on]; len(nulls) != want {
			t.Fatalf("tombstones %v: %d null records, want %d", on, len(nulls), want)
		}
	}
}

// The reference shows no per-update offset: each update is placed by its
// page's request offset and its index in the page, so that two changes of
// one customer in a page keep apart, and the envelope and headers say the
// offset is a position.
func TestPageRecordsWithoutUpdateOffsets(t *testing.T) {
	const page = `{"nextOffset": 50, "updates": [
		  {"operation": "CREATE", "entity": {"type": "CUSTOMER", "data": {"id": "a"}}},
		  {"operation": "UPDATE", "entity": {"type": "CUSTOMER", "data": {"id": "a"}}},
		  {"operation": "UPDATE", "entity": {"type": "CUSTOMER", "data": {"id": "b"}}}]}`
	for _, tc := range []struct {
		name  string
		after int64
		want  []string
	}{
		{"asked after an offset", 40, []string{"41", "42", "43"}},
		// Asked with no offset (earliest, or a time): counted back from nextOffset.
		{"asked with no offset", -1, []string{"48", "49", "50"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, _ := buildTestPage(t, newRecordBuilder("customers", "events", testWorkspace, "", true), page, tc.after)
			if pr.last != 50 || len(pr.msgs) != 3 || pr.overrun {
				t.Fatalf("last %d, %d records, overrun %v", pr.last, len(pr.msgs), pr.overrun)
			}
			var got []string
			for _, m := range pr.msgs {
				h := streamstest.Headers(m)
				env, err := schemas.DecodeUpdateEnvelope(m.Value)
				if err != nil || h[HeaderOffsetSource] != schemas.OffsetSourcePage || env.OffsetSource != schemas.OffsetSourcePage || fmt.Sprint(env.Offset) != h[HeaderOffset] {
					t.Fatalf("record %v %s: %v", h, m.Value, err)
				}
				got = append(got, h[HeaderOffset])
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("offsets %v, want %v", got, tc.want)
			}
		})
	}
}

// A page read again after a crash, whole or with a smaller size, gives its
// updates the same positions; the page after the smaller one goes on
// without a repeat when the stream's offsets have no gaps.
func TestPagePositionsAreStable(t *testing.T) {
	b := newRecordBuilder("customers", "events", testWorkspace, "", true)
	update := func(id string) string {
		return `{"operation": "UPDATE", "entity": {"type": "CUSTOMER", "data": {"id": "` + id + `"}}}`
	}
	whole := `{"nextOffset": 14, "updates": [` + update("a") + `,` + update("b") + `,` + update("a") + `,` + update("c") + `]}`
	first, _ := buildTestPage(t, b, whole, 10)
	again, _ := buildTestPage(t, b, whole, 10)
	half, _ := buildTestPage(t, b, `{"nextOffset": 12, "updates": [`+update("a")+`,`+update("b")+`]}`, 10)
	rest, _ := buildTestPage(t, b, `{"nextOffset": 14, "updates": [`+update("a")+`,`+update("c")+`]}`, half.last)
	offsets := func(prs ...*pageRecords) []string {
		var out []string
		for _, pr := range prs {
			for _, m := range pr.msgs {
				out = append(out, streamstest.Headers(m)[HeaderOffset]+"/"+string(m.Key))
			}
		}
		return out
	}
	want := []string{"11/a", "12/b", "13/a", "14/c"}
	for name, got := range map[string][]string{"first": offsets(first), "re-read": offsets(again), "in halves": offsets(half, rest)} {
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %v, want %v", name, got, want)
		}
	}
}

// A stream whose nextOffset lags its updates breaks what positions rest on:
// the page says so.
func TestPagePositionsOverrun(t *testing.T) {
	pr, _ := buildTestPage(t, newRecordBuilder("customers", "events", testWorkspace, "", true),
		`{"nextOffset": 11, "updates": [{"operation": "CREATE", "entity": {"type": "CUSTOMER", "data": {"id": "a"}}}, {"operation": "CREATE", "entity": {"type": "CUSTOMER", "data": {"id": "b"}}}]}`, 10)
	if !pr.overrun {
		t.Fatal("positions 11 and 12 past nextOffset 11 not reported")
	}
}

// A page's memory is reused once released, and the records built in it
// then are whole.
func TestPageRecordsMemoryIsReused(t *testing.T) {
	b := newRecordBuilder("customers", "events", testWorkspace, "", true)
	first, _ := buildTestPage(t, b, recordsPage, 0)
	want := string(first.msgs[0].Value)
	first.release()
	second, _ := buildTestPage(t, b, recordsPage, 0)
	if string(second.msgs[0].Value) != want || first.msgs != nil {
		t.Fatalf("rebuilt record %s, want %s", second.msgs[0].Value, want)
	}
}

// With envelope: cloudevents each record is the entity's data as a
// binary-mode CloudEvent that the CloudEvents SDK reads as valid: its id
// the offset, its type the entity type and operation, its subject the key;
// the contacthub.* headers stay. The records are pinned by a golden file.
func TestPageRecordsCloudEvents(t *testing.T) {
	b := newRecordBuilder("customers", "events", testWorkspace, "", true)
	b.publishCloudEvents()
	pr, _ := buildTestPage(t, b, recordsPage, 1)
	var got strings.Builder
	wantTypes := map[int64]string{2: "com.contactlab.hub.customer.created", 3: "com.contactlab.hub.event.updated", 4: "com.contactlab.hub.customer.deleted", 5: "com.contactlab.hub.event.created"}
	for _, m := range pr.msgs {
		enc, err := json.Marshal(map[string]any{"topic": m.Topic, "key": string(m.Key), "headers": streamstest.Headers(m)})
		if err != nil {
			t.Fatal(err)
		}
		got.Write(enc)
		got.WriteByte(' ')
		if m.Value == nil {
			got.WriteString("null\n")
			continue // a tombstone: compaction's marker, with its DELETE's headers
		}
		got.Write(m.Value)
		got.WriteByte('\n')
		r := &streams.Record{Value: m.Value}
		for _, h := range m.Headers {
			r.Headers = append(r.Headers, streams.Header{Key: h.Key, Value: h.Value})
		}
		e, err := streams.CloudEventOf(r)
		if err != nil || e == nil {
			t.Fatalf("record %s is not a valid CloudEvent: %v", m.Value, err)
		}
		off := streamstest.Headers(m)[HeaderOffset]
		if e.ID() != off || e.Source() != "/contacthub/workspaces/"+testWorkspace || e.Type() != wantTypes[mustInt(t, off)] ||
			e.Subject() != string(m.Key) || !e.Time().Equal(readAt) || e.DataContentType() != "application/json" || string(e.Data()) != string(m.Value) {
			t.Fatalf("record %s: event %s", m.Value, e)
		}
	}
	testkit.Golden(t, filepath.Join("testdata", "page_records_cloudevents.golden"), []byte(got.String()), *update)
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}
