package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const schemaIDPrefix = "https://github.com/contactlab/connector/schemas/json/"

func schemaURL(name string) string { return schemaIDPrefix + name + ".schema.json" }

// compiledSchemas compiles every embedded schema once per test binary, with
// formats asserted: draft 2020-12 treats "format" as an annotation unless told.
var compiledSchemas = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, name := range Names() {
		b, _ := Lookup(name)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := c.AddResource(schemaURL(name), doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	out := make(map[string]*jsonschema.Schema)
	for _, name := range Names() {
		s, err := c.Compile(schemaURL(name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = s
	}
	// Subschemas for the format checks, so those can be compared alone.
	for _, frag := range []string{"uuid", "dateTime"} {
		s, err := c.Compile(schemaURL("event") + "#/$defs/" + frag)
		if err != nil {
			return nil, fmt.Errorf("event $defs/%s: %w", frag, err)
		}
		out["event#"+frag] = s
	}
	return out, nil
})

func schemaFor(tb testing.TB, name string) *jsonschema.Schema {
	tb.Helper()
	m, err := compiledSchemas()
	if err != nil {
		tb.Fatalf("compile schemas: %v", err)
	}
	s, ok := m[name]
	if !ok {
		tb.Fatalf("no schema %q", name)
	}
	return s
}

// schemaAccepts validates data with santhosh-tekuri/jsonschema. Data that is
// not one JSON value counts as rejected, as the Go decoders reject it.
func schemaAccepts(tb testing.TB, name string, data []byte) (bool, error) {
	tb.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return false, err
	}
	err = schemaFor(tb, name).Validate(inst)
	return err == nil, err
}

// decodeAs decodes data as a message of the named schema and returns the
// decoded value (nil on error) and the error.
func decodeAs(schema string, data []byte) (any, error) {
	switch schema {
	case "event":
		return nilIfErr(DecodeEvent(data))
	case "categorization-request":
		return nilIfErr(DecodeCategorizationRequest(data))
	case "update-envelope":
		return nilIfErr(DecodeUpdateEnvelope(data))
	case "customer-record":
		return nilIfErr(DecodeCustomerRecord(data))
	}
	for c, name := range upsSchemas {
		if name == schema {
			return nilIfErr(DecodeUPSRecord(c, data))
		}
	}
	return nil, fmt.Errorf("no decoder for schema %q", schema)
}

// nilIfErr keeps a typed nil pointer out of the any.
func nilIfErr[T any](v *T, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return v, nil
}

// violationPaths returns the sorted paths of a *ValidationError, nil for nil.
func violationPaths(tb testing.TB, schema string, err error) []string {
	tb.Helper()
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		tb.Fatalf("error is %T, want *ValidationError: %v", err, err)
	}
	if ve.Schema != schema {
		tb.Errorf("ValidationError.Schema = %q, want %q", ve.Schema, schema)
	}
	paths := make([]string, 0, len(ve.Violations))
	for _, v := range ve.Violations {
		if v.Path == "" || v.Rule == "" {
			tb.Errorf("violation with empty path or rule: %+v", v)
		}
		paths = append(paths, v.Path)
	}
	return paths
}

// onlyGoRules reports whether every violation is one that JSON Schema cannot
// express, so the schema is expected to accept the message.
func onlyGoRules(err error) bool {
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Violations) == 0 {
		return false
	}
	for _, v := range ve.Violations {
		if !isGoOnlyRule(v) {
			return false
		}
	}
	return true
}

// hasGoOnlyRule reports whether any violation is Go-only; the schema's
// verdict then says nothing about the Go validator's other rules.
func hasGoOnlyRule(err error) bool {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	return slices.ContainsFunc(ve.Violations, isGoOnlyRule)
}

func isGoOnlyRule(v Violation) bool {
	// ruleCustomerTooLarge reads as ruleEventTooLarge: both limits are 64 kB.
	switch v.Rule {
	case ruleDuplicate, ruleEventTooLarge, ruleCustomerTooLarge, ruleCustomerTags,
		// I-JSON: the schema validator reads JSON as encoding/json does.
		ruleUTF8, ruleSurrogate, ruleNameUTF8, ruleNameSurrogate, ruleNumberRange:
		return true
	}
	return false
}

// checkMessage is the assertion behind every table and golden case: the Go
// decoder reports exactly the wanted paths, and the JSON Schema agrees on
// valid/invalid, except for a goOnly case, where the schema must accept what
// Go rejects (documenting the gap rather than hiding it). A valid message
// must also survive json.Marshal and decode again, and pass Validate.
func checkMessage(t *testing.T, schema string, data []byte, want []string, goOnly bool) {
	t.Helper()
	got, err := decodeAs(schema, data)
	gotPaths := violationPaths(t, schema, err)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(gotPaths, want) {
		t.Errorf("violations at %q, want %q\nerror: %v", gotPaths, want, err)
	}
	if goOnly && err == nil {
		t.Errorf("goOnly case decoded without error")
	}

	accepted, schemaErr := schemaAccepts(t, schema, data)
	switch {
	case goOnly && !accepted:
		t.Errorf("goOnly case: JSON Schema rejects it too, so it is not Go-only: %v", schemaErr)
	case !goOnly && accepted != (err == nil):
		t.Errorf("Go and JSON Schema disagree: Go error %v; JSON Schema accepts=%v: %v", err, accepted, schemaErr)
	}

	if err == nil {
		assertRoundTrip(t, schema, got)
	}
}

// checkValidate is the assertion of every Validate table: Validate on v
// reports violations at want, and says what decoding json.Marshal(v) says.
func checkValidate(t *testing.T, schema string, v any, want []string) {
	t.Helper()
	got := violationPaths(t, schema, validateAs(schema, v))
	if !slices.Equal(got, want) {
		t.Errorf("Validate: violations at %q, want %q", got, want)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	_, err = decodeAs(schema, b)
	if fromJSON := violationPaths(t, schema, err); !slices.Equal(got, fromJSON) {
		t.Errorf("Validate says %q, decoding json.Marshal of the value says %q", got, fromJSON)
	}
}

// modified is a case of a Validate table: a valid value changed by modify,
// and the paths Validate must report then.
type modified[T any] struct {
	name   string
	modify func(*T)
	want   []string
}

// checkValidateModified runs checkValidate on a fresh valid() changed by
// each case.
func checkValidateModified[T any](t *testing.T, schema string, valid func() *T, cases []modified[T]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := valid()
			tc.modify(v)
			checkValidate(t, schema, v, tc.want)
		})
	}
}

// assertRoundTrip marshals a decoded value, decodes it again, and checks
// Validate on both.
func assertRoundTrip(t *testing.T, schema string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal decoded value: %v", err)
	}
	again, err := decodeAs(schema, b)
	if err != nil {
		t.Fatalf("decoded value does not decode after json.Marshal: %v\n%s", err, b)
	}
	for _, x := range []any{v, again} {
		if err := validateAs(schema, x); err != nil {
			t.Errorf("Validate on a decoded value: %v", err)
		}
	}
}

func validateAs(schema string, v any) error {
	switch x := v.(type) {
	case *Event:
		return x.Validate()
	case *CategorizationRequest:
		return x.Validate()
	case *UpdateEnvelope:
		return x.Validate()
	case *CustomerRecord:
		return x.Validate()
	case *UPSRecord:
		c, ok := strings.CutPrefix(schema, "ups-")
		if !ok {
			return fmt.Errorf("UPSRecord for schema %q", schema)
		}
		return x.Validate(Collection(c))
	}
	return fmt.Errorf("cannot validate %T", v)
}

// hugeExponent matches numbers santhosh-tekuri/jsonschema would expand with
// big.Rat for "type": "integer", which takes as long as the exponent is big.
var hugeExponent = regexp.MustCompile(`[eE][+-]?0*[0-9]{4,}`)
