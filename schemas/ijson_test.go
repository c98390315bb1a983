package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// ijsonCase is JSON and the I-JSON violations checkIJSON must find in it,
// at base "$".
type ijsonCase struct {
	name string
	json string
	want []Violation
}

func ijsonCases() []ijsonCase {
	many := func(dup string) string {
		var b strings.Builder
		b.WriteString(`{"top": {`)
		for i := range 40 {
			fmt.Fprintf(&b, `"m%d": %d, `, i, i)
		}
		b.WriteString(dup)
		b.WriteString(`}}`)
		return b.String()
	}
	return []ijsonCase{
		// ---- UTF-8: one rule for values, one for names.
		{name: "utf8 valid", json: `{"name": "Zoë 😀 €", "Zoë": 1}`},
		{name: "utf8 bad byte in value", json: "{\"properties\": {\"name\": \"a\xffb\"}}", want: []Violation{{"$.properties.name", ruleUTF8}}},
		{name: "utf8 bad byte in name", json: "{\"properties\": {\"a\xffb\": 1}}", want: []Violation{{"$.properties.a\uFFFDb", ruleNameUTF8}}},
		{name: "utf8 bad name, bracket form", json: "{\"fav\xff color\": 1}", want: []Violation{{"$['fav\uFFFD color']", ruleNameUTF8}}},
		{name: "utf8 truncated sequence", json: "[\"\xe2\x82\"]", want: []Violation{{"$[0]", ruleUTF8}}},
		{name: "utf8 overlong slash", json: "[\"\xc0\xaf\"]", want: []Violation{{"$[0]", ruleUTF8}}},
		{name: "utf8 surrogate encoded", json: "[\"\xed\xa0\x80\"]", want: []Violation{{"$[0]", ruleUTF8}}},
		{name: "utf8 beyond U+10FFFF", json: "[\"\xf4\x90\x80\x80\"]", want: []Violation{{"$[0]", ruleUTF8}}},
		// One violation per string, however many bad bytes it holds.
		{name: "utf8 many bad bytes", json: "{\"a\": \"\xff\xfe\xfd\x80\"}", want: []Violation{{"$.a", ruleUTF8}}},
		// U+FFFD written out is a character like any other.
		{name: "utf8 replacement char", json: "[\"\xef\xbf\xbd\", \"\\ufffd\"]"},

		// ---- Surrogate escapes: a pair is a character, half of one is not.
		{name: "surrogate pair", json: `{"s": "\ud83d\ude00", "t": "x\uD83D\uDE00y"}`},
		{name: "surrogate lone high", json: `{"s": "\ud800"}`, want: []Violation{{"$.s", ruleSurrogate}}},
		{name: "surrogate lone high, text after", json: `{"s": "\udbffabc"}`, want: []Violation{{"$.s", ruleSurrogate}}},
		{name: "surrogate high then other escape", json: `{"s": "\ud800\u0041"}`, want: []Violation{{"$.s", ruleSurrogate}}},
		{name: "surrogate high then high", json: `{"s": "\ud800\ud800"}`, want: []Violation{{"$.s", ruleSurrogate}}},
		{name: "surrogate high, pair after", json: `{"s": "\ud800\ud83d\ude00"}`, want: []Violation{{"$.s", ruleSurrogate}}},
		{name: "surrogate high then escaped backslash", json: `{"s": "\ud800\\udc00"}`, want: []Violation{{"$.s", ruleSurrogate}}},
		{name: "surrogate lone low", json: `{"s": "\udc00"}`, want: []Violation{{"$.s", ruleSurrogate}}},
		{name: "surrogate low then high", json: `{"s": "\udfff\ud800"}`, want: []Violation{{"$.s", ruleSurrogate}}},
		{name: "surrogate in name", json: `{"a": {"x\ud800": 1}}`, want: []Violation{{"$.a.x\uFFFD", ruleNameSurrogate}}},
		{name: "surrogate in array", json: `{"tags": ["a", "b", "c", "\udc00"]}`, want: []Violation{{"$.tags[3]", ruleSurrogate}}},
		{name: "surrogate and bad utf8 in one string", json: "[\"\\ud800\xff\"]", want: []Violation{{"$[0]", ruleUTF8}, {"$[0]", ruleSurrogate}}},
		{name: "surrogate at the root", json: `"\ud800"`, want: []Violation{{"$", ruleSurrogate}}},
		// An escaped backslash followed by "ud800" is text, not an escape.
		{name: "surrogate text", json: `["\\ud800"]`},

		// ---- Numbers: overflow to ±Inf breaks the rule, underflow to 0 does not.
		{name: "number 1e999", json: `{"n": 1e999}`, want: []Violation{{"$.n", ruleNumberRange}}},
		{name: "number -1e999", json: `{"n": -1e999}`, want: []Violation{{"$.n", ruleNumberRange}}},
		{name: "number -1e400", json: `{"n": -1e400}`, want: []Violation{{"$.n", ruleNumberRange}}},
		{name: "number 1E+309", json: `[1E+309]`, want: []Violation{{"$[0]", ruleNumberRange}}},
		{name: "number 1e-400 underflows to 0", json: `{"n": 1e-400, "m": -1e-400}`},
		{name: "number max double", json: `[1.7976931348623157e308, -1.7976931348623157e308, 1.7976931348623158e308]`},
		{name: "number just past max double", json: `[1.7976931348623159e308]`, want: []Violation{{"$[0]", ruleNumberRange}}},
		{name: "number 1e308", json: `[1e308, 10e307, 0.1e309]`},
		{name: "number 309 digits", json: `{"n": 2` + strings.Repeat("0", 308) + `}`, want: []Violation{{"$.n", ruleNumberRange}}},
		{name: "number 308 and 309 digits below the limit", json: `{"n": 9` + strings.Repeat("9", 307) + `, "m": 1` + strings.Repeat("0", 308) + `}`},
		{name: "number many digits, small exponent", json: `[1` + strings.Repeat("0", 400) + `e-300]`},
		{name: "number zero, any exponent", json: `[0e999, 0.0e99999999999999999999, -0E+400]`},
		{name: "number fraction with big exponent", json: `[0.0001e310]`},
		{name: "number huge exponent", json: `[1e99999999999999999999]`, want: []Violation{{"$[0]", ruleNumberRange}}},
		{name: "number huge negative exponent", json: `[1e-99999999999999999999]`},
		{name: "number padded exponent", json: `[1e000000000000000000000000308]`},
		{name: "number deep in arrays", json: `{"items": [1, 2, 3, {"a": [0, 1e999]}]}`, want: []Violation{{"$.items[3].a[1]", ruleNumberRange}}},
		{name: "number at the root", json: `1e999`, want: []Violation{{"$", ruleNumberRange}}},

		// ---- Duplicate member names, at any depth, compared as decoded.
		{name: "dup top", json: `{"a": 1, "a": 2}`, want: []Violation{{"$.a", ruleDuplicate}}},
		{name: "dup escaped", json: `{"a": 1, "\u0061": 2}`, want: []Violation{{"$.a", ruleDuplicate}}},
		{name: "dup depth 3", json: `{"x": {"y": {"z": 1, "w": 2, "z": 3}}}`, want: []Violation{{"$.x.y.z", ruleDuplicate}}},
		{name: "dup depth 3 escaped", json: `{"x": {"y": {"\u00e9t\u00e9": 1, "été": 2}}}`, want: []Violation{{"$.x.y.été", ruleDuplicate}}},
		{name: "dup depth 3 both escaped differently", json: `{"x": {"y": {"\u00E9": 1, "\u00e9": 2}}}`, want: []Violation{{"$.x.y.é", ruleDuplicate}}},
		{name: "dup pair and character", json: `{"😀": 1, "\ud83d\ude00": 2}`, want: []Violation{{"$.😀", ruleDuplicate}}},
		{name: "dup simple escapes", json: `{"a\nb": 1, "a\u000ab": 2, "\/": 3, "/": 4}`, want: []Violation{{`$['a\u000ab']`, ruleDuplicate}, {"$['/']", ruleDuplicate}}},
		{name: "dup inside array", json: `{"items": [{"a": 1}, {"b": 1, "a": 2, "b": 3}]}`, want: []Violation{{"$.items[1].b", ruleDuplicate}}},
		{name: "dup odd name", json: `{"fav color": 1, "fav color": 2}`, want: []Violation{{"$['fav color']", ruleDuplicate}}},
		{name: "dup three times", json: `{"a": 1, "a": 2, "a": 3}`, want: []Violation{{"$.a", ruleDuplicate}}},
		{name: "dup after a nested object", json: `{"a": {"b": 1, "c": {"d": 1}}, "b": 2, "a": 3}`, want: []Violation{{"$.a", ruleDuplicate}}},
		// Lone surrogates and bad bytes decode to U+FFFD, as encoding/json
		// reads them: two such names are one.
		{name: "dup lone surrogates", json: `{"\ud800": 1, "\udbff": 2}`, want: []Violation{{"$.\uFFFD", ruleDuplicate}, {"$.\uFFFD", ruleNameSurrogate}}},
		{name: "dup bad bytes", json: "{\"a\xff\": 1, \"a\xfe\": 2}", want: []Violation{{"$.a\uFFFD", ruleDuplicate}, {"$.a\uFFFD", ruleNameUTF8}}},
		// Not duplicates: the same name in sibling, parent and child objects.
		{name: "no dup across objects", json: `{"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}], "c": {"b": 1}}`},
		{name: "no dup case", json: `{"a": 1, "A": 2, "a ": 3, "": 4, "\u0000": 5}`},
		{name: "no dup prefix", json: `{"ab": 1, "a": 2, "\u0061b\u0063": 3}`},
		// More members than the linear scan takes: the map finds them too.
		{name: "many no dup", json: many(`"last": 1`)},
		{name: "many dup", json: many(`"m3": 1`), want: []Violation{{"$.top.m3", ruleDuplicate}}},
		{name: "many dup escaped", json: many(`"\u006d39": 1`), want: []Violation{{"$.top.m39", ruleDuplicate}}},
		{name: "many dup of the 17th", json: many(`"m16": 1`), want: []Violation{{"$.top.m16", ruleDuplicate}}},

		// ---- Everything is reported, not just the first.
		{name: "all at once", json: "{\"a\": 1, \"a\": [1e999, \"\\udc00\"], \"b\": {\"c\xff\": \"\xff\"}}", want: []Violation{
			{"$.a", ruleDuplicate}, {"$.a[0]", ruleNumberRange}, {"$.a[1]", ruleSurrogate},
			{"$.b.c\uFFFD", ruleNameUTF8}, {"$.b.c\uFFFD", ruleUTF8},
		}},
		{name: "whitespace", json: " \n{ \"a\" : [ 1e999 , \"\\ud800\" ] ,\t\"a\"\r: 1 } ", want: []Violation{
			{"$.a", ruleDuplicate}, {"$.a[0]", ruleNumberRange}, {"$.a[1]", ruleSurrogate},
		}},
	}
}

func TestCheckIJSON(t *testing.T) {
	for _, tc := range ijsonCases() {
		t.Run(tc.name, func(t *testing.T) {
			v := violations{schema: "test"}
			if !checkIJSON(&v, "$", []byte(tc.json)) {
				t.Fatalf("checkIJSON says %q is not JSON", tc.json)
			}
			got := sortedViolations(v.list)
			want := sortedViolations(tc.want)
			if !slices.Equal(got, want) {
				t.Errorf("violations %q, want %q", got, want)
			}
			// The reference implementation agrees.
			if ref, ok := referenceIJSON([]byte(tc.json)); !ok || !slices.Equal(ref, want) {
				t.Errorf("reference finds %q (JSON: %v), want %q", ref, ok, want)
			}
		})
	}
}

// A base other than "$" prefixes every path: Validate checks raw members
// below their own.
func TestCheckIJSONBase(t *testing.T) {
	v := violations{schema: "test"}
	if !checkIJSON(&v, "$.properties", []byte(`{"a": [1e999], "a": 1}`)) {
		t.Fatal("not JSON")
	}
	want := []Violation{{"$.properties.a", ruleDuplicate}, {"$.properties.a[0]", ruleNumberRange}}
	if got := sortedViolations(v.list); !slices.Equal(got, want) {
		t.Errorf("violations %q, want %q", got, want)
	}
}

// checkIJSON replaces json.Valid on the way in, so it must agree with it on
// the syntax, edge by edge, as ValidJSON does.
func TestCheckIJSONAgreesWithEncodingJSON(t *testing.T) {
	testAgreesWithJSONValid(t, "checkIJSON", func(data []byte) bool {
		v := violations{schema: "test"}
		return checkIJSON(&v, "$", data)
	})
}

// Deep nesting outgrows the stacks on the goroutine stack; the scan goes on.
func TestCheckIJSONDeep(t *testing.T) {
	const depth = 500
	doc := strings.Repeat(`{"a": [`, depth) + `{"x": 1, "x": 2}` + strings.Repeat(`]}`, depth)
	v := violations{schema: "test"}
	if !checkIJSON(&v, "$", []byte(doc)) {
		t.Fatal("not JSON")
	}
	want := "$" + strings.Repeat(".a[0]", depth) + ".x"
	if len(v.list) != 1 || v.list[0] != (Violation{want, ruleDuplicate}) {
		t.Errorf("violations %q, want one duplicate at the innermost x", v.list)
	}
}

// A valid record costs no allocation for I-JSON: the check is one pass with
// its stacks on the goroutine stack.
func TestCheckIJSONAllocatesNothing(t *testing.T) {
	for _, file := range []string{
		"testdata/event/valid-completed-order.json",
		"testdata/ups-rr-userattributes/valid-many.json",
	} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			v := violations{schema: "test"}
			if !checkIJSON(&v, "$", data) || len(v.list) != 0 {
				t.Fatalf("%s: not I-JSON", file)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per check, want 0", file, allocs)
		}
	}
}

// Every decoder of a record a sink forwards rejects non-I-JSON wherever it
// is, at its path, while still reporting its own rules.
func TestDecodersRejectNonIJSON(t *testing.T) {
	const u = `"userId": "af86536d-34e3-4ebc-6c64-08db56ccef25"`
	cases := []struct {
		name, schema, json string
		want               []Violation
	}{
		{name: "event properties utf8", schema: eventSchema, json: strings.Replace(ev(""), `"properties": {}`, "\"properties\": {\"name\": \"\xff\"}", 1),
			want: []Violation{{"$.properties.name", ruleUTF8}}},
		{name: "event properties surrogate", schema: eventSchema, json: ev(`"contextInfo": {"client": {"userAgent": "\ud800"}}`),
			want: []Violation{{"$.contextInfo.client.userAgent", ruleSurrogate}}},
		{name: "event properties number", schema: eventSchema, json: ev(`"tracking": {"x": [1e999]}`),
			want: []Violation{{"$.tracking.x[0]", ruleNumberRange}}},
		{name: "event properties dup depth 3", schema: eventSchema, json: strings.Replace(ev(""), `"properties": {}`, `"properties": {"a": {"b": {"c": 1, "\u0063": 2}}}`, 1),
			want: []Violation{{"$.properties.a.b.c", ruleDuplicate}}},
		// The schema's own rules are still all reported.
		{name: "event with other violations", schema: eventSchema, json: ev(`"date": "yesterday", "contextInfo": {"n": -1e400}`),
			want: []Violation{{"$.contextInfo.n", ruleNumberRange}, {"$.date", ruleDateTime}}},
		// A duplicate of a known member is reported once.
		{name: "event dup known member", schema: eventSchema, json: ev(`"type": "loggedIn"`),
			want: []Violation{{"$.type", ruleDuplicate}}},
		{name: "customer extended property", schema: customerRecordSchema, json: custRec(CustomerOpPatch, `"extended": {"score": 1e999}`),
			want: []Violation{{"$.customer.extended.score", ruleNumberRange}}},
		{name: "customer dup in extended", schema: customerRecordSchema, json: custRec(CustomerOpCreate, `"extended": {"x": {"y": {"z": 1, "z": 2}}}`),
			want: []Violation{{"$.customer.extended.x.y.z", ruleDuplicate}}},
		{name: "customer session surrogate", schema: customerRecordSchema, json: custRec(CustomerOpSession, `"value": "s\udc00"`),
			want: []Violation{{"$.session.value", ruleSurrogate}}},
		{name: "ups attribute name utf8", schema: upsSchemas[UserAttributes], json: "{\"userId\": \"u1\", \"value\": {\"c\xffl\": [\"red\"]}}",
			want: []Violation{{"$.value.c\uFFFDl", ruleNameUTF8}}},
		{name: "ups segment value surrogate", schema: upsSchemas[Segments], json: `{"userId": "u1", "value": {"Member": "\ud83d"}}`,
			want: []Violation{{"$.value.Member", ruleSurrogate}}},
		{name: "ups userId utf8", schema: upsSchemas[UserLinking], json: "{\"userId\": \"u\xff\", \"value\": []}",
			want: []Violation{{"$.userId", ruleUTF8}}},
		{name: "categorization e1 account surrogate", schema: categorizationSchema, json: `{"accountIds": ["a", "\udfff"]}`,
			want: []Violation{{"$.accountIds[1]", ruleSurrogate}}},
		{name: "categorization e1 metaData number", schema: categorizationSchema, json: `{` + u + `, "metaData": {"n": 1e999}}`,
			want: []Violation{{"$.metaData", ruleMetaData}, {"$.metaData.n", ruleNumberRange}}},
		// Another engine's request is forwarded as it came: it too must be
		// I-JSON, deep down.
		{name: "categorization other engine", schema: categorizationSchema, json: `{"engine": "e2", "x": {"y": [{"z": 1e999, "w": 1, "w": 2}]}}`,
			want: []Violation{{"$.x.y[0].w", ruleDuplicate}, {"$.x.y[0].z", ruleNumberRange}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeAs(tc.schema, []byte(tc.json))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v, want a *ValidationError", err)
			}
			if ve.Schema != tc.schema {
				t.Errorf("schema %q, want %q", ve.Schema, tc.schema)
			}
			if want := sortedViolations(tc.want); !slices.Equal(ve.Violations, want) {
				t.Errorf("violations %q, want %q", ve.Violations, want)
			}
		})
	}
}

// Validate holds a value built in Go to the rules of a decoded one: its raw
// members, which json.Marshal copies as they are, must be I-JSON.
func TestValidateRejectsNonIJSON(t *testing.T) {
	cases := []struct {
		name, schema string
		v            any
		want         []Violation
	}{
		{name: "event properties", schema: eventSchema,
			v:    &Event{CustomerID: testCustomerID, Type: "viewedPage", Context: "WEB", Properties: json.RawMessage(`{"a": 1, "a": 2}`)},
			want: []Violation{{"$.properties.a", ruleDuplicate}}},
		{name: "event contextInfo and tracking", schema: eventSchema,
			v:    &Event{CustomerID: testCustomerID, Type: "viewedPage", Context: "WEB", Properties: json.RawMessage(`{}`), ContextInfo: json.RawMessage(`{"s": "\udc00"}`), Tracking: json.RawMessage(`{"n": 1e999}`)},
			want: []Violation{{"$.contextInfo.s", ruleSurrogate}, {"$.tracking.n", ruleNumberRange}}},
		{name: "customer", schema: customerRecordSchema,
			v:    &CustomerRecord{Operation: CustomerOpPatch, CustomerID: testCustomerID, Customer: json.RawMessage("{\"extra\": \"\xff\"}")},
			want: []Violation{{"$.customer.extra", ruleUTF8}}},
		{name: "ups", schema: upsSchemas[Segments],
			v:    &UPSRecord{UserID: "u1", Value: json.RawMessage(`{"Member": "x", "\u004dember": "y"}`)},
			want: []Violation{{"$.value.Member", ruleDuplicate}}},
		{name: "categorization other engine", schema: categorizationSchema,
			v:    &CategorizationRequest{Engine: "e2", Verbatim: json.RawMessage(`{"engine":"e2","n":-1e999}`)},
			want: []Violation{{"$.n", ruleNumberRange}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := validateAs(tc.schema, tc.v)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate: %v, want a *ValidationError", err)
			}
			if want := sortedViolations(tc.want); !slices.Equal(ve.Violations, want) {
				t.Errorf("Validate: violations %q, want %q", ve.Violations, want)
			}
			// What json.Marshal makes of the value decodes to the same verdict.
			b, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			_, err = decodeAs(tc.schema, b)
			if !errors.As(err, &ve) || !slices.Equal(ve.Violations, sortedViolations(tc.want)) {
				t.Errorf("decoding json.Marshal of the value: %v", err)
			}
		})
	}
}

// FuzzCheckIJSON holds the one-pass check to json.Valid for the syntax and
// to referenceIJSON, written the plain way, for the violations.
func FuzzCheckIJSON(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, tc := range ijsonCases() {
		f.Add([]byte(tc.json))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v := violations{schema: "test"}
		ok := checkIJSON(&v, "$", data)
		if want := json.Valid(data); ok != want {
			t.Fatalf("checkIJSON(%q) = %v, json.Valid says %v", data, ok, want)
		}
		if !ok {
			return
		}
		got := sortedViolations(v.list)
		want, refOK := referenceIJSON(data)
		if !refOK {
			t.Fatalf("reference cannot read %q", data)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("checkIJSON(%q) finds %q, the reference %q", data, got, want)
		}
	})
}

func sortedViolations(list []Violation) []Violation {
	out := slices.Clone(list)
	slices.SortFunc(out, func(a, b Violation) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	return slices.Compact(out)
}

// referenceIJSON finds the I-JSON violations of data the slow, plain way:
// encoding/json's tokens give the structure, the decoded names and the
// numbers; each string's raw bytes, found from the decoder's offsets, are
// checked for UTF-8 and surrogate escapes one character at a time. ok is
// false when data is not JSON.
func referenceIJSON(data []byte) (list []Violation, ok bool) {
	type frame struct {
		object   bool
		wantName bool // an object's next string is a name
		names    map[string]bool
		key      string
		index    int
	}
	var frames []*frame
	path := func() string {
		p := "$"
		for _, f := range frames {
			if f.object {
				p = memberPath(p, f.key)
			} else {
				p = indexPath(p, f.index)
			}
		}
		return p
	}
	// valueDone moves the innermost container past a value.
	valueDone := func() {
		if len(frames) == 0 {
			return
		}
		if f := frames[len(frames)-1]; f.object {
			f.wantName = true
		} else {
			f.index++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			return sortedViolations(list), json.Valid(data)
		}
		if err != nil {
			return nil, false
		}
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{', '[':
				frames = append(frames, &frame{object: tok == '{', wantName: tok == '{', names: map[string]bool{}})
			default:
				frames = frames[:len(frames)-1]
				valueDone()
			}
		case string:
			start := before + int64(bytes.IndexByte(data[before:], '"'))
			raw := data[start+1 : dec.InputOffset()-1]
			badUTF8, lone := !utf8.Valid(raw), referenceLoneSurrogate(raw)
			if n := len(frames); n > 0 && frames[n-1].object && frames[n-1].wantName {
				f := frames[n-1]
				f.key, f.wantName = tok, false
				if badUTF8 {
					list = append(list, Violation{path(), ruleNameUTF8})
				}
				if lone {
					list = append(list, Violation{path(), ruleNameSurrogate})
				}
				if f.names[tok] {
					list = append(list, Violation{path(), ruleDuplicate})
				}
				f.names[tok] = true
				continue
			}
			if badUTF8 {
				list = append(list, Violation{path(), ruleUTF8})
			}
			if lone {
				list = append(list, Violation{path(), ruleSurrogate})
			}
			valueDone()
		case json.Number:
			if f, _ := strconv.ParseFloat(string(tok), 64); math.IsInf(f, 0) {
				list = append(list, Violation{path(), ruleNumberRange})
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

// referenceLoneSurrogate reports whether the body of a JSON string holds a
// \u escape of a surrogate that is not a high one directly followed by a
// low one.
func referenceLoneSurrogate(raw []byte) bool {
	var units []rune // the \u escapes, with -1 for anything between them
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			units = append(units, -1)
			i++
			continue
		}
		if raw[i+1] != 'u' {
			units = append(units, -1)
			i += 2
			continue
		}
		n, _ := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
		units = append(units, rune(n))
		i += 6
	}
	for i := 0; i < len(units); i++ {
		switch u := units[i]; {
		case u >= 0xD800 && u <= 0xDBFF:
			if i+1 < len(units) && units[i+1] >= 0xDC00 && units[i+1] <= 0xDFFF {
				i++
				continue
			}
			return true
		case u >= 0xDC00 && u <= 0xDFFF:
			return true
		}
	}
	return false
}

// BenchmarkCheckIJSON is the cost of the check on the way in of an event,
// next to json.Valid, which it replaces there.
func BenchmarkCheckIJSON(b *testing.B) {
	data, err := os.ReadFile("testdata/event/valid-completed-order.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("checkIJSON", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			v := violations{schema: "test"}
			if !checkIJSON(&v, "$", data) || len(v.list) > 0 {
				b.Fatal("not I-JSON")
			}
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if !json.Valid(data) {
				b.Fatal("not JSON")
			}
		}
	})
}
