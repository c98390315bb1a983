package schemas

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ValidJSON stands in for json.Valid on the mappings' hot path, so it
// must agree with it on everything, edge by edge.
func TestValidJSONAgreesWithEncodingJSON(t *testing.T) {
	testAgreesWithJSONValid(t, "ValidJSON", ValidJSON)
}

// syntaxEdges are the edges of JSON's grammar a scanner standing in for
// json.Valid must place as it does.
var syntaxEdges = []string{
	``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `1.5e+3`, `true`, `false`, `null`, ` {"a" : [1, "b", {"c": null}]} `,
	`{`, `}`, `[`, `]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a":1 "b":2}`, `[1 2]`, `{1:2}`, `{"a":1]`, `[1}`,
	`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `1.5e3.2`, `0x10`, `--1`, `1E-7`, `-01`, `1e999x`,
	`tru`, `truex`, `nul`, `nulll`, `falsey`, `True`,
	`"a\"b"`, `"a\\"`, `"\u00e9"`, `"\u00g0"`, `"\u00e"`, `"\x"`, `"\/"`, "\"a\tb\"", "\"a\x7fb\"", "\"\xff\xfe\"", `"abc`, `"\`,
	`"\ud800`, `"\ud800\`, `"\ud800\u"`, `"\ud800\udc0"`, `"\ud800\udcxx"`, `"\ud800\udc00`, "\"\xe2\x82", "\"\xe2\x82\"",
	"\"a\nb\"", `{"a":"b"}x`, `1 2`, "\u00a0{}", "{}\u00a0", `[[[]]]`, `[[[]]`, `{"a":{"b":{}}}`,
	`{"a":1,"a"}`, `{"a":1,"a":}`, `{"a" 1}`, `{"a":1,,"b":2}`, `[1,,2]`, `{"a":[}`, `{"a":{]}`,
}

// testAgreesWithJSONValid holds valid, named name, to json.Valid on
// syntaxEdges and at the nesting limit: json.Valid takes 10000 levels, not
// 10001.
func testAgreesWithJSONValid(t *testing.T, name string, valid func([]byte) bool) {
	t.Helper()
	for _, c := range syntaxEdges {
		if got, want := valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("%s(%q) = %v, json.Valid says %v", name, c, got, want)
		}
	}
	for _, depth := range []int{maxJSONDepth, maxJSONDepth + 1} {
		for _, open := range []string{"[", `{"a":`} {
			close := "]"
			if open != "[" {
				close = "}"
			}
			doc := []byte(strings.Repeat(open, depth-1) + "[]" + strings.Repeat(close, depth-1))
			if got, want := valid(doc), json.Valid(doc); got != want {
				t.Errorf("depth %d of %q: %s %v, json.Valid %v", depth, open, name, got, want)
			}
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(samplePage))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := ValidJSON(data), json.Valid(data); got != want {
			t.Fatalf("ValidJSON(%q) = %v, json.Valid says %v", data, got, want)
		}
	})
}

func BenchmarkValidJSONPage4000(b *testing.B) {
	page := bigPage(4000)
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		if !ValidJSON(page) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkEncodingJSONValidPage4000(b *testing.B) {
	page := bigPage(4000)
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		if !json.Valid(page) {
			b.Fatal("invalid")
		}
	}
}
