package schemas

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestNamesAndLookup(t *testing.T) {
	want := []string{
		"categorization-request", "customer-record", "event", "update-envelope",
		"ups-rr-segments", "ups-rr-userattributes", "ups-rr-userpreferences", "ups-userlinking",
	}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	// Names hands out a copy.
	Names()[0] = "x"
	if Names()[0] != want[0] {
		t.Error("Names() shares its slice")
	}
	for _, name := range want {
		b, ok := Lookup(name)
		if !ok || !json.Valid(b) {
			t.Errorf("Lookup(%q) = %d bytes, %v", name, len(b), ok)
		}
		var doc struct {
			Schema string `json:"$schema"`
			ID     string `json:"$id"`
		}
		if err := json.Unmarshal(b, &doc); err != nil || doc.Schema != "https://json-schema.org/draft/2020-12/schema" || doc.ID != schemaURL(name) {
			t.Errorf("%s: $schema %q, $id %q", name, doc.Schema, doc.ID)
		}
		// Lookup hands out a copy.
		b[0] = 'x'
		if again, _ := Lookup(name); again[0] != '{' {
			t.Errorf("Lookup(%q) shares its bytes", name)
		}
	}
	for _, name := range []string{"", "nope", "event.schema.json", "../schemas", "json/event"} {
		if _, ok := Lookup(name); ok {
			t.Errorf("Lookup(%q) found something", name)
		}
	}
}

// Every schema compiles, which also checks it against the 2020-12 meta-schema.
func TestSchemasCompile(t *testing.T) {
	for _, name := range Names() {
		schemaFor(t, name)
	}
}

// Every ValidationError names a schema Lookup knows, so a dead letter can
// point at its contract.
func TestValidationErrorSchemasExist(t *testing.T) {
	names := Names()
	used := []string{eventSchema, categorizationSchema, updateEnvelopeSchema, customerRecordSchema}
	for _, c := range Collections {
		used = append(used, upsSchemas[c])
	}
	for _, n := range used {
		if !slices.Contains(names, n) {
			t.Errorf("schema name %q has no file", n)
		}
	}
	if len(used) != len(names) {
		t.Errorf("%d decoders for %d schema files", len(used), len(names))
	}
}

// The enums of the event schema are EventTypes and EventContexts, so the Go
// lists and the file cannot drift apart.
func TestEventSchemaEnums(t *testing.T) {
	b, _ := Lookup("event")
	var doc struct {
		Properties struct {
			Type    struct{ Enum []string } `json:"type"`
			Context struct{ Enum []string } `json:"context"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.Properties.Type.Enum, EventTypes) {
		t.Errorf("schema type enum %q\nEventTypes %q", doc.Properties.Type.Enum, EventTypes)
	}
	if !slices.Equal(doc.Properties.Context.Enum, EventContexts) {
		t.Errorf("schema context enum %q\nEventContexts %q", doc.Properties.Context.Enum, EventContexts)
	}
}
