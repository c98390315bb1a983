package mapping

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/contactlab/connector/streams"
)

// Any record makes an input document or an error, never a panic; the
// document survives jq and encodes as JSON.
func FuzzInput(f *testing.F) {
	f.Add([]byte(`{"orderId":"o-1","total":1e400}`), "ce_specversion", "1.0", "content-type", "application/json")
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"aGk="}`), "content-type", "application/cloudevents+json", "x", "y")
	f.Add([]byte("\xff\xfe not utf-8"), "ce_type", "t", "ce_time", "2026-13-45T99:00:00Z")
	prog, err := Compile("fuzz", `., (.value | tojson), ([.headers[]] | length)`)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte, k1, v1, k2, v2 string) {
		r := &streams.Record{Key: value, Value: value, Headers: []streams.Header{{Key: k1, Value: []byte(v1)}, {Key: k2, Value: []byte(v2)}}}
		in, err := Input(r)
		if err != nil {
			return
		}
		outs, err := prog.Run(context.Background(), in)
		if err != nil {
			t.Fatalf("identity program failed on %q: %v", value, err)
		}
		for _, o := range outs {
			if !json.Valid(o) {
				t.Fatalf("output %q is not JSON", o)
			}
		}
	})
}

// Any input line is a record or an error, never a panic.
func FuzzRecordOf(f *testing.F) {
	f.Add([]byte(`{"key":"k","value":{"a":1},"headers":{"h":"v"},"offset":3}`))
	f.Add([]byte(`{"raw":"x"}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := RecordOf(line)
		if err == nil && r == nil {
			t.Fatal("no record and no error")
		}
	})
}
