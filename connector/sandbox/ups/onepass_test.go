package ups

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/contactlab/connector/schemas"
)

// onePassSeeds are bodies readPayload must read as encoding/json does, or
// give up on: the usual ones, and each way encoding/json reads a body
// differently from a naive scanner.
var onePassSeeds = []struct {
	body   string
	single bool
	// read says whether readPayload must read it itself (true) or may
	// give it up; every seed is also checked against encoding/json.
	read bool
}{
	{`{"data":[{"userId":"a","value":{"k":["v"]}}]}`, false, true},
	{` {"siteId":1723 , "type":"grouped","data":[ {"userId":"a","value":["b"]} ,{"userId":1}] } `, false, true},
	{`{"data":{"userId":"a","value":{"k":"v"}}}`, true, true},
	{`{"data":{"userId":"a","value":{"k":"v"}},"other":[1,{"x":null},true,false,-0.5e+3]}`, true, true},
	{`{"siteId":null,"type":null,"data":[{"userId":"a","value":{}}]}`, false, true},
	{`{"data":[{"userId":"\u00e9t\u00e9","value":{"like":["\ud83d\ude00","a\"b"]}}]}`, false, true},
	{`{"data":[{"userId":"a","value":{"k":1},"value":{"k":2}}]}`, false, true},
	{`{"data":[{"\u0075serId":"a","\u0076alue":{"k":1}}]}`, false, true},
	{`{"data":[{"userId":"a","value":{"k":"v"}}],"Data":[]}`, false, false},
	{`{"DATA":[{"userId":"a","value":{}}]}`, false, false},
	{"{\"\u017fiteId\":1,\"data\":[{\"userId\":\"a\",\"value\":{}}]}", false, false},
	{`{"data":[],"data":[{"userId":"a","value":{}}]}`, false, false},
	{`{"siteId":1.0,"data":[{"userId":"a","value":{}}]}`, false, false},
	{`{"siteId":99999999999999999999,"data":[{"userId":"a","value":{}}]}`, false, false},
	{`{"siteId":"608","data":[{"userId":"a","value":{}}]}`, false, false},
	{`{"type":1,"data":[{"userId":"a","value":{}}]}`, false, false},
	{`{"data":[1,"x",null,[]]}`, false, false},
	{`{"data":[]}`, false, false},
	{`{"data":{"userId":"a","value":{}}}`, false, false},
	{`{"data":[{"userId":"a","value":{}}]}`, true, false},
	{`{"data":[{"userId":"a","value":{"k":01}}]}`, false, false},
	{`{"data":[{"userId":"a","value":{"k":"\x01"}}]}`, false, false},
	{"{\"data\":[{\"userId\":\"\xff\",\"value\":{}}]}", false, true},
	{`{"data":[{"userId":"a","value":{"k":"\ud800"}}]}`, false, true},
	{`{"data":[{"userId":"a","value":{}},]}`, false, false},
	{`{"data":[{"userId":"a","value":{}}]} x`, false, false},
	{`{"data":[{"userId":"a","value":{}}]`, false, false},
	{`[{"data":[]}]`, false, false},
}

// TestReadPayloadReadsAsEncodingJSON checks the one-pass reader on bodies
// chosen for the ways it could differ from encoding/json, and that it
// reads the ordinary ones itself.
func TestReadPayloadReadsAsEncodingJSON(t *testing.T) {
	for _, s := range onePassSeeds {
		if _, ok := readPayload([]byte(s.body), s.single); s.read && !ok {
			t.Errorf("%s: gave up on a body it should read", s.body)
		}
		checkOnePass(t, []byte(s.body), s.single)
	}
}

// FuzzReadPayload holds readPayload to encoding/json: whatever it reads,
// decodePayload reads too, with the same envelope, elements and records,
// and every collection accepts and refuses the same records with the same
// messages.
func FuzzReadPayload(f *testing.F) {
	for _, s := range onePassSeeds {
		f.Add([]byte(s.body), s.single)
	}
	f.Fuzz(func(t *testing.T, body []byte, single bool) {
		checkOnePass(t, body, single)
	})
}

func checkOnePass(t *testing.T, body []byte, single bool) {
	t.Helper()
	fast, ok := readPayload(body, single)
	if !ok {
		return
	}
	slow, err := decodePayload(body, single)
	if err != nil {
		t.Fatalf("%q: read in one pass, but encoding/json refuses it: %v", body, err)
	}
	if !reflect.DeepEqual(fast.siteID, slow.siteID) || !reflect.DeepEqual(fast.typ, slow.typ) {
		t.Fatalf("%q: envelope siteId %v type %v, encoding/json %v %v", body, fast.siteID, fast.typ, slow.siteID, slow.typ)
	}
	if len(fast.elems) != len(slow.elems) || len(fast.insts) != len(fast.elems) || len(fast.values) != len(fast.elems) {
		t.Fatalf("%q: %d elements (%d instances, %d values), encoding/json %d", body, len(fast.elems), len(fast.insts), len(fast.values), len(slow.elems))
	}
	for i := range fast.elems {
		if !bytes.Equal(fast.elems[i], slow.elems[i]) {
			t.Fatalf("%q: element %d is %s, encoding/json %s", body, i, fast.elems[i], slow.elems[i])
		}
		want, err := jsonschema.UnmarshalJSON(bytes.NewReader(slow.elems[i]))
		if err != nil {
			t.Fatalf("%q: element %d: %v", body, i, err)
		}
		if !reflect.DeepEqual(fast.insts[i], want) {
			t.Fatalf("%q: element %d reads as %#v, encoding/json %#v", body, i, fast.insts[i], want)
		}
	}
	for _, c := range schemas.Collections {
		gotRecs, gotBad := fast.records(c)
		wantRecs, wantBad := slow.records(c)
		if !reflect.DeepEqual(sortedRules(gotBad), sortedRules(wantBad)) {
			t.Fatalf("%q: %s: refused %+v, encoding/json %+v", body, c, gotBad, wantBad)
		}
		if len(gotBad) > 0 {
			continue
		}
		if len(gotRecs) != len(wantRecs) {
			t.Fatalf("%q: %s: %d records, encoding/json %d", body, c, len(gotRecs), len(wantRecs))
		}
		for i := range gotRecs {
			if gotRecs[i].UserID != wantRecs[i].UserID || !bytes.Equal(gotRecs[i].Value, wantRecs[i].Value) {
				t.Fatalf("%q: %s: record %d is %q %s, encoding/json %q %s", body, c, i, gotRecs[i].UserID, gotRecs[i].Value, wantRecs[i].UserID, wantRecs[i].Value)
			}
		}
	}
}

// sortedRules puts the rules of each message in order: a schema lists the
// unknown members of an object in map order, whichever way it was read.
func sortedRules(bad []recordError) []recordError {
	out := slices.Clone(bad)
	for i := range out {
		parts := strings.Split(out[i].Message, "; ")
		slices.Sort(parts)
		out[i].Message = strings.Join(parts, "; ")
	}
	return out
}

// The values of accepted records are stored in one block per payload:
// each must be its own slice, so that nothing appended to one can reach
// the next.
func TestReadRecordsValuesDoNotShareCapacity(t *testing.T) {
	p, ok := readPayload([]byte(`{"data":[{"userId":"a","value":{"x":["1"]}},{"userId":"b","value":{"y":["2"]}}]}`), false)
	if !ok {
		t.Fatal("gave up")
	}
	recs, bad := p.records(schemas.UserAttributes)
	if len(bad) > 0 {
		t.Fatalf("refused: %+v", bad)
	}
	_ = append(recs[0].Value, "garbage"...)
	if string(recs[1].Value) != `{"y":["2"]}` {
		t.Fatalf("second value is %s after appending to the first", recs[1].Value)
	}
	var v map[string]any
	if err := json.Unmarshal(recs[0].Value, &v); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkReadPayload measures the one-pass read of a 1000-record body
// and, apart, the schema check of its records.
func BenchmarkReadPayload(b *testing.B) {
	recs := make([]map[string]any, 1000)
	for i := range recs {
		recs[i] = map[string]any{"userId": fmt.Sprintf("%08d", i*7919%100000000), "value": map[string]any{
			"like":       []string{fmt.Sprintf("prod%09dx", i), fmt.Sprintf("prod%09dy", i*3)},
			"Notforrecs": []string{fmt.Sprintf("prod%09dz", i*5)},
		}}
	}
	body, err := json.Marshal(map[string]any{"data": recs})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, ok := readPayload(body, false); !ok {
				b.Fatal("gave up")
			}
		}
	})
	b.Run("records", func(b *testing.B) {
		p, _ := readPayload(body, false)
		b.ReportAllocs()
		for b.Loop() {
			if _, bad := p.records(schemas.UserPreferences); len(bad) > 0 {
				b.Fatal(bad)
			}
		}
	})
}
