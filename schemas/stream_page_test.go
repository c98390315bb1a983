package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/contactlab/connector/internal/testkit"
)

const samplePage = `{"nextOffset": 42, "updates": [
	{"offset": 41, "operation": "CREATE", "entity": {"type": "CUSTOMER", "data": {"id": "c1", "base": {"firstName": "Ada"}}}},
	{"offset": 42, "operation": "DELETE", "entity": {"type": "EVENT", "data": {"id": "e1", "customerId": null}}, "extra": [1, 2]}
]}`

// The fast decoder must read what encoding/json reads from every answer the
// API can give, since it replaced json.Unmarshal in the client.
func TestDecodeStreamPageMatchesEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		name, json string
	}{
		{"sample", samplePage},
		{"empty page", `{"nextOffset": 7, "updates": []}`},
		{"null updates", `{"nextOffset": 7, "updates": null}`},
		{"no updates member", `{"nextOffset": 7}`},
		// The reference shows no per-update offset; the sandbox adds one.
		{"no offsets", `{"nextOffset": 3, "updates": [{"operation": "UPDATE", "entity": {"type": "CUSTOMER", "data": {"id": "x"}}}]}`},
		{"escaped strings", `{"updates": [{"offset": 1, "operation": "CR\u0045ATE", "entity": {"type": "EV\u0045NT", "data": {"s": "a\"}b"}}}]}`},
		{"unknown operation kept", `{"updates": [{"offset": 1, "operation": "MERGE", "entity": {"type": "ORDER", "data": {}}}]}`},
		{"duplicate members, last wins", `{"nextOffset": 1, "nextOffset": 2, "updates": [{"offset": 2, "offset": 3}]}`},
		{"whitespace", " \n{ \"updates\" : [ { \"offset\" : 5 , \"entity\" : { \"data\" : { } } } ] , \"nextOffset\" : 5 } \n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeStreamPage([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			var want StreamPage
			if err := json.Unmarshal([]byte(tc.json), &want); err != nil {
				t.Fatal(err)
			}
			samePage(t, got, &want)
		})
	}
}

// HasOffset tells an update that has its own offset, 0 included, from one
// that has none (the reference's shape) or null.
func TestDecodeStreamPageHasOffset(t *testing.T) {
	p, err := DecodeStreamPage([]byte(`{"nextOffset": 9, "updates": [{"offset": 0}, {"offset": 7}, {"offset": null}, {"operation": "CREATE"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []bool
	for _, u := range p.Updates {
		got = append(got, u.HasOffset)
	}
	if want := []bool{true, true, false, false}; !slices.Equal(got, want) {
		t.Fatalf("HasOffset %v, want %v", got, want)
	}
}

func TestDecodeStreamPageRejectsUnusablePages(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       []string
	}{
		{"not JSON", `{"updates": [`, []string{"$"}},
		{"not an object", `[1]`, []string{"$"}},
		{"updates not a list", `{"updates": {}}`, []string{"$.updates"}},
		{"update not an object", `{"updates": [{"offset": 1}, 7]}`, []string{"$.updates[1]"}},
		// An update whose offset cannot be read cannot be placed in the stream.
		{"offset string", `{"updates": [{"offset": "1"}]}`, []string{"$.updates[0].offset"}},
		{"offset negative", `{"updates": [{"offset": -1}]}`, []string{"$.updates[0].offset"}},
		{"offset fraction", `{"updates": [{"offset": 1.5}]}`, []string{"$.updates[0].offset"}},
		{"offset past int64", `{"updates": [{"offset": 9223372036854775808}]}`, []string{"$.updates[0].offset"}},
		{"nextOffset bool", `{"nextOffset": true, "updates": []}`, []string{"$.nextOffset"}},
		{"every problem at once", `{"nextOffset": "x", "updates": [1, {"offset": -2}]}`, []string{"$.nextOffset", "$.updates[0]", "$.updates[1].offset"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeStreamPage([]byte(tc.json))
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Schema != streamPageSchema {
				t.Fatalf("error %v (%T), want a *ValidationError of %s", err, err, streamPageSchema)
			}
			var paths []string
			for _, v := range ve.Violations {
				paths = append(paths, v.Path)
			}
			if !slices.Equal(paths, tc.want) {
				t.Fatalf("violations at %v, want %v (%v)", paths, tc.want, err)
			}
		})
	}
}

// Values of the wrong type decode as empty, so one odd update is the
// caller's to skip rather than a page nobody can read.
func TestDecodeStreamPageLeavesContentToTheCaller(t *testing.T) {
	p, err := DecodeStreamPage([]byte(`{"updates": [{"offset": 1, "operation": 5, "entity": {"type": ["x"], "data": "str"}}, {"offset": 2, "entity": 3}]}`))
	if err != nil {
		t.Fatal(err)
	}
	u := p.Updates[0]
	if u.Operation != "" || u.Entity.Type != "" || string(u.Entity.Data) != `"str"` {
		t.Fatalf("update 0 decoded as %+v", u)
	}
	if p.Updates[1].Offset != 2 || p.Updates[1].Entity.Data != nil {
		t.Fatalf("update 1 decoded as %+v", p.Updates[1])
	}
	// JSON Schema counts 1e3 and 1.0 as integers (encoding/json does not).
	p, err = DecodeStreamPage([]byte(`{"nextOffset": 1e3, "updates": [{"offset": 1.0}]}`))
	if err != nil || p.NextOffset != 1000 || p.Updates[0].Offset != 1 {
		t.Fatalf("integral offsets: %+v, %v", p, err)
	}
}

// The page's own levels count toward encoding/json's nesting limit.
func TestDecodeStreamPageNestingLimit(t *testing.T) {
	for _, total := range []int{maxJSONDepth, maxJSONDepth + 1} {
		inner := total - 4 // root, updates, update, entity
		data := strings.Repeat("[", inner) + strings.Repeat("]", inner)
		page := []byte(`{"updates": [{"offset": 1, "entity": {"type": "EVENT", "data": ` + data + `}}]}`)
		_, err := DecodeStreamPage(page)
		if valid := json.Valid(page); (err == nil) != valid {
			t.Fatalf("depth %d: json.Valid %v, DecodeStreamPage %v", total, valid, err)
		}
	}
}

func samePage(t *testing.T, got, want *StreamPage) {
	t.Helper()
	if got.NextOffset != want.NextOffset || len(got.Updates) != len(want.Updates) {
		t.Fatalf("page %d with %d updates, want %d with %d", got.NextOffset, len(got.Updates), want.NextOffset, len(want.Updates))
	}
	for i := range got.Updates {
		g, w := got.Updates[i], want.Updates[i]
		if g.Offset != w.Offset || g.Operation != w.Operation || g.Entity.Type != w.Entity.Type {
			t.Fatalf("update %d: %d %q %q, want %d %q %q", i, g.Offset, g.Operation, g.Entity.Type, w.Offset, w.Operation, w.Entity.Type)
		}
		// json.Marshal writes an absent data as null.
		gd, wd := g.Entity.Data, w.Entity.Data
		if string(gd) == "null" {
			gd = nil
		}
		if string(wd) == "null" {
			wd = nil
		}
		testkit.RequireJSONEqual(t, gd, wd)
	}
}

// FuzzDecodeStreamPage: decoding never panics and fails only with a
// *ValidationError; a decoded page survives json.Marshal and decodes again
// to the same page; and whenever encoding/json reads the same members (no
// names that differ only in case), both read the same page.
func FuzzDecodeStreamPage(f *testing.F) {
	f.Add([]byte(samplePage))
	f.Add([]byte(`{"nextOffset": 0, "updates": []}`))
	f.Add([]byte(`{"updates": [{"offset": 1e2, "entity": {"data": null}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeStreamPage(data)
		// The one-pass check of the page must agree with json.Valid.
		valid := json.Valid(data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Violations) == 0 {
				t.Fatalf("error %T without violations: %v", err, err)
			}
			if valid && slices.Contains(ve.Violations, Violation{Path: "$", Rule: ruleNotJSON}) {
				t.Fatalf("json.Valid accepts %q, DecodeStreamPage does not", data)
			}
			return
		}
		if !valid {
			t.Fatalf("DecodeStreamPage accepts %q, json.Valid does not", data)
		}
		for i, u := range p.Updates {
			if u.Entity.Data != nil && !json.Valid(u.Entity.Data) {
				t.Fatalf("update %d: data %q is not JSON", i, u.Entity.Data)
			}
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal %+v: %v", p, err)
		}
		again, err := DecodeStreamPage(b)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		samePage(t, again, p)
		if caseVariantKeys(data) {
			return
		}
		var want StreamPage
		if json.Unmarshal(data, &want) == nil {
			samePage(t, p, &want)
		}
	})
}

// caseVariantKeys reports whether data has a key that encoding/json would
// match case-insensitively to one of the page's members, or that holds an
// escape (which could spell one).
func caseVariantKeys(data []byte) bool {
	lower := bytes.ToLower(data)
	for _, k := range []string{"nextOffset", "updates", "offset", "operation", "entity", "type", "data"} {
		quoted := `"` + k + `"`
		if bytes.Count(lower, []byte(strings.ToLower(quoted))) != bytes.Count(data, []byte(quoted)) {
			return true
		}
	}
	return bytes.Contains(data, []byte(`\`))
}

// BenchmarkDecodeStreamPage4000 decodes a full page; compare
// BenchmarkUnmarshalStreamPage4000 for what encoding/json costs.
func BenchmarkDecodeStreamPage4000(b *testing.B) {
	page := bigPage(4000)
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		if _, err := DecodeStreamPage(page); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalStreamPage4000(b *testing.B) {
	page := bigPage(4000)
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		var p StreamPage
		if err := json.Unmarshal(page, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func bigPage(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"nextOffset":` + strconv.Itoa(n) + `,"updates":[`)
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		b.WriteString(`{"offset":` + strconv.Itoa(i) + `,"operation":"UPDATE","entity":{"type":"CUSTOMER","data":{"id":"87d8e330-2878-4742-a86f-dbbb3bf522ac","nodeId":"959356e3-6168-4a92-b4a5-b9d462be6177","base":{"firstName":"Giulia","lastName":"Rossi","contacts":{"email":"giulia.rossi.` + strconv.Itoa(i) + `@example.com"},"address":{"city":"Milano","zip":"20121"}},"tags":{"auto":[],"manual":["vip"]},"enabled":true,"updatedAt":"2025-03-01T12:00:00.000Z"}}}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}
