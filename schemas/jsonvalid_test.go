package schemas

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validJSON stands in for json.Valid on the update stream's hot path, so it
// must agree with it on everything, edge by edge.
func TestValidJSONAgreesWithEncodingJSON(t *testing.T) {
	cases := []string{
		``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `1.5e+3`, `true`, `false`, `null`, ` {"a" : [1, "b", {"c": null}]} `,
		`{`, `}`, `[`, `]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a":1 "b":2}`, `[1 2]`, `{1:2}`, `{"a":1]`, `[1}`,
		`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `1.5e3.2`, `0x10`, `--1`, `1E-7`,
		`tru`, `truex`, `nul`, `nulll`, `falsey`, `True`,
		`"a\"b"`, `"a\\"`, `"\u00e9"`, `"\u00g0"`, `"\u00e"`, `"\x"`, `"\/"`, "\"a\tb\"", "\"a\x7fb\"", "\"\xff\xfe\"", `"abc`, `"\`,
		"\"a\nb\"", `{"a":"b"}x`, `1 2`, "\u00a0{}", "{}\u00a0", `[[[]]]`, `[[[]]`, `{"a":{"b":{}}}`,
	}
	for _, c := range cases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid says %v", c, got, want)
		}
	}
	// The nesting limit: json.Valid takes 10000 levels, not 10001.
	for _, depth := range []int{maxJSONDepth, maxJSONDepth + 1} {
		for _, open := range []string{"[", `{"a":`} {
			close := "]"
			if open != "[" {
				close = "}"
			}
			doc := []byte(strings.Repeat(open, depth-1) + "[]" + strings.Repeat(close, depth-1))
			if got, want := validJSON(doc), json.Valid(doc); got != want {
				t.Errorf("depth %d of %q: validJSON %v, json.Valid %v", depth, open, got, want)
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
		if got, want := validJSON(data), json.Valid(data); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", data, got, want)
		}
	})
}

func BenchmarkValidJSONPage4000(b *testing.B) {
	page := bigPage(4000)
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		if !validJSON(page) {
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
