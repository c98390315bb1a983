package mapping

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// stdParse is what parseJSON must agree with: encoding/json's Decoder with
// UseNumber, on text json.Valid accepts.
func stdParse(b []byte) (any, bool) {
	if len(b) == 0 || !json.Valid(b) {
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

var parseJSONCases = []string{
	``, ` `, `{}`, `[]`, `""`, `0`, `-0.5e+10`, `1E400`, `true`, `false`, `null`, ` {"a" : [ 1 , 2 ] } `,
	`{"a":1,"a":2}`, `{"a":{"b":[{},[],"",null]}}`, `"tab\there"`, `"\u00e9\ud83d\ude00"`, `"\ud800"`,
	"\"caf\xc3\xa9\"", "\"\xff\xfe\"", `"\"\\\/\b\f\n\r\t"`, `{"\u0061":"x"}`,
	`{"a":01}`, `[1,]`, `{"a":1}x`, `1 2`, `tru`, `-`, `1.`, `{"a" 1}`, `[`, `"\x"`,
	`{"orderId":"ORD-1","totals":{"total":129.80,"tax":23.41},"lines":[{"sku":"A","qty":2}],"test":false}`,
}

func TestParseJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, c := range parseJSONCases {
		checkParseJSON(t, []byte(c))
	}
}

func FuzzParseJSON(f *testing.F) {
	for _, c := range parseJSONCases {
		f.Add([]byte(c))
	}
	f.Fuzz(checkParseJSON)
}

func checkParseJSON(t *testing.T, b []byte) {
	got, gotOK := parseJSON(b)
	want, wantOK := stdParse(b)
	if gotOK != wantOK || !reflect.DeepEqual(got, want) {
		t.Fatalf("parseJSON(%q) = %#v, %v; encoding/json: %#v, %v", b, got, gotOK, want, wantOK)
	}
}
