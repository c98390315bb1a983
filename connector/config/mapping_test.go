package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contactlab/connector/connector/config"
)

// Every sink takes a mapping, inline or from a file; Parse (and so
// `connector validate`) compiles it and names the line of a syntax error.
func TestMappingKeys(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "orders.jq")
	bad := filepath.Join(dir, "bad.jq")
	if err := os.WriteFile(good, []byte("select(.value.test != true)\n| .value\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("{\n  type: \"completedOrder\",\n  properties: {total: .value.total]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inline := func(program string) string {
		return edit(t, "    topics: [web.events]", "    topics: [web.events]\n    mapping: |\n"+indent(program, "      "))
	}
	for _, tc := range []struct {
		name   string
		doc    string
		key    string // "" valid
		reason string
	}{
		{name: "inline", doc: inline("{type: \"viewedProduct\", context: \"WEB\", customerId: .value.customerId, properties: {}}")},
		{name: "from a file", doc: edit(t, "      collection: rr-segments", "      collection: rr-segments\n    mapping_file: "+good)},
		{name: "inline syntax error names the program's line", doc: inline("{\n  type: \"completedOrder\",\n  properties: {total: .value.total]\n}"),
			key: "sinks[0].mapping", reason: `line 3, column 35 of the program: unexpected token "]"`},
		{name: "file syntax error names file:line:column", doc: edit(t, "    topics: [categorization.requests]", "    topics: [categorization.requests]\n    mapping_file: "+bad),
			key: "sinks[2].mapping_file", reason: bad + `:3:35: unexpected token "]"`},
		{name: "an undefined function", doc: inline(".value | to_contacthub"), key: "sinks[0].mapping", reason: "function not defined: to_contacthub/0"},
		{name: "a missing file", doc: edit(t, "    topics: [web.events]", "    topics: [web.events]\n    mapping_file: "+filepath.Join(dir, "none.jq")),
			key: "sinks[0].mapping_file", reason: "no such file"},
		{name: "both", doc: edit(t, "    topics: [web.events]", "    topics: [web.events]\n    mapping: .value\n    mapping_file: "+good),
			key: "sinks[0].mapping_file", reason: "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse([]byte(tc.doc), lookup)
			if tc.key == "" {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				if name, src, err := c.Sinks[0].MappingSource(); tc.name == "inline" && (err != nil || name != "mapping" || !strings.Contains(src, "viewedProduct")) {
					t.Fatalf("mapping source %q %q %v", name, src, err)
				}
				return
			}
			fes := fieldErrors(err)
			if len(fes) != 1 || fes[0].Key != tc.key || !strings.Contains(fes[0].Reason, tc.reason) {
				t.Fatalf("got %v, want one FieldError %s naming %q", err, tc.key, tc.reason)
			}
		})
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

// Each sink type gives its schema's verdict for mappings and connector map.
func TestCheckOfEachSinkType(t *testing.T) {
	c, err := config.Parse([]byte(base), lookup)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct{ good, bad, path string }{
		{`{"customerId":"5b0e1d2a-0000-4000-8000-000000000001","type":"viewedPage","context":"WEB","properties":{}}`, `{"type":"viewedPage"}`, "$.context"},
		{`{"userId":"u1","value":{"vip":"gold"}}`, `{"userId":"u1","value":{"vip":["gold"]}}`, "$.value.vip"},
		{`{"userId":"u1"}`, `{"userId":"u1","consentId":"c1"}`, "$"},
	} {
		check := config.CheckOf(&c.Sinks[i])
		if check == nil {
			t.Fatalf("sink %s has no check", c.Sinks[i].Name)
		}
		if err := check([]byte(tc.good)); err != nil {
			t.Errorf("sink %s refused %s: %v", c.Sinks[i].Name, tc.good, err)
		}
		if err := check([]byte(tc.bad)); err == nil || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("sink %s: %s gave %v, want a violation at %s", c.Sinks[i].Name, tc.bad, err, tc.path)
		}
	}
}

// The customers sink's verdict is the customer record's schema.
func TestCheckOfCustomersSink(t *testing.T) {
	c, err := config.Parse([]byte(edit(t, "    type: contacthub-events", "    type: contacthub-customers")), lookup)
	if err != nil {
		t.Fatal(err)
	}
	check := config.CheckOf(&c.Sinks[0])
	if check == nil {
		t.Fatalf("sink %s (%s) has no check", c.Sinks[0].Name, c.Sinks[0].Type)
	}
	good := `{"operation":"create","customer":{"nodeId":"5b0e1d2a-0000-4000-8000-000000000002","externalId":"c-1","base":{"contacts":{"email":"a@example.com"}}}}`
	if err := check([]byte(good)); err != nil {
		t.Errorf("refused %s: %v", good, err)
	}
	if err := check([]byte(`{"operation":"create"}`)); err == nil || !strings.Contains(err.Error(), "$.customer") {
		t.Errorf("a create without a customer gave %v, want a violation at $.customer", err)
	}
}

// The source publishes its default envelope or CloudEvents, nothing else.
func TestSourceEnvelope(t *testing.T) {
	for _, tc := range []struct{ value, key string }{
		{"contacthub", ""},
		{"cloudevents", ""},
		{"avro", "sources[0].envelope"},
	} {
		_, err := config.Parse([]byte(edit(t, "    type: contacthub-updates", "    type: contacthub-updates\n    envelope: "+tc.value)), lookup)
		fes := fieldErrors(err)
		switch {
		case tc.key == "" && err != nil:
			t.Errorf("envelope %s refused: %v", tc.value, err)
		case tc.key != "" && (len(fes) != 1 || fes[0].Key != tc.key):
			t.Errorf("envelope %s: got %v, want a FieldError for %s", tc.value, err, tc.key)
		}
	}
}
