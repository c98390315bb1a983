package mapping

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/contactlab/connector/schemas"
)

func TestRecordOf(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		value      string
		key        string
		header     string
		offset     int64
	}{
		{name: "a bare object is the value", line: `{"orderId":"o-1","customer":"c"}`, value: `{"orderId":"o-1","customer":"c"}`},
		{name: "a bare string is the value", line: `"hello"`, value: `"hello"`},
		{name: "a record with its members", line: `{"key":"c-1","value":{"a":1},"headers":{"ce_type":"t"},"offset":7}`, value: `{"a":1}`, key: "c-1", header: "t", offset: 7},
		{name: "raw for a value that is not JSON", line: `{"raw":"not json","key":"k"}`, value: `not json`, key: "k"},
		{name: "an object with value and other members is a bare value", line: `{"value":1,"currency":"EUR"}`, value: `{"value":1,"currency":"EUR"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := RecordOf([]byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Value) != tc.value || string(r.Key) != tc.key || string(r.Header("ce_type")) != tc.header || r.Offset != tc.offset {
				t.Fatalf("got value %s key %q header %q offset %d", r.Value, r.Key, r.Header("ce_type"), r.Offset)
			}
		})
	}
	if _, err := RecordOf([]byte(`{not json`)); err == nil {
		t.Fatal("a line that is not JSON was read")
	}
}

// DryRun says for every line what the sink would do, with the schema's
// violations and their paths.
func TestDryRun(t *testing.T) {
	prog := mustCompile(t, `select(.value.test != true) | .value.items[] | {sku, qty}`)
	check := func(v []byte) error {
		var x struct{ Qty int }
		_ = json.Unmarshal(v, &x)
		if x.Qty < 1 {
			return &schemas.ValidationError{Schema: "item", Violations: []schemas.Violation{{Path: "$.qty", Rule: "must be at least 1"}}}
		}
		return nil
	}
	in := strings.Join([]string{
		`# comments and blank lines are skipped`,
		``,
		`{"items":[{"sku":"a","qty":1},{"sku":"b","qty":2}]}`,
		`{"test":true,"items":[{"sku":"a","qty":1}]}`,
		`{"items":[{"sku":"a","qty":1},{"sku":"b","qty":0}]}`,
		`{"items":"none"}`,
		`{oops`,
	}, "\n")
	var got []Result
	if err := DryRun(context.Background(), prog, check, strings.NewReader(in), func(r Result) { got = append(got, r) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("%d results, want 5: %+v", len(got), got)
	}
	if r := got[0]; r.Line != 3 || len(r.Outputs) != 2 || !r.Outputs[0].Valid || !r.Outputs[1].Valid || r.DeadLettered() {
		t.Errorf("fan-out: %+v", r)
	}
	if r := got[1]; !r.Filtered {
		t.Errorf("test traffic: %+v", r)
	}
	if r := got[2]; r.Reason != "invalid" || r.Error != "output[1]: item: $.qty: must be at least 1" || r.Outputs[1].Valid || r.Outputs[1].Violations[0].Path != "$.qty" {
		t.Errorf("invalid output: %+v", r)
	}
	if r := got[3]; r.Reason != "mapping" || !strings.Contains(r.Error, "cannot iterate over") {
		t.Errorf("mapping error: %+v", r)
	}
	if r := got[4]; r.Reason != "input" || r.Line != 7 {
		t.Errorf("bad line: %+v", r)
	}
	var text bytes.Buffer
	for _, r := range got {
		WriteText(&text, r)
	}
	for _, want := range []string{
		"line 3: 2 output(s): delivered\n  output[0] {\"qty\":1,\"sku\":\"a\"}\n    valid\n",
		"line 4: filtered",
		"line 5: 2 output(s): dead letter (invalid): nothing sent",
		"    invalid: $.qty: must be at least 1\n",
		"line 6: dead letter (mapping): mapping test: cannot iterate over",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, text.String())
		}
	}
}
