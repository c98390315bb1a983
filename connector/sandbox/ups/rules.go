package ups

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/contactlab/connector/schemas"
)

// The stand-in checks records against the JSON Schemas of the four
// collections (schemas/json/ups-*.schema.json, draft 2020-12) through
// santhosh-tekuri/jsonschema: a reading of the reference written down as a
// contract, validated by a library the connector does not use. It never
// calls the connector's decoders (package schemas' Decode functions), so a
// rule the connector misreads shows up as a refusal here instead of being
// agreed with. What no schema can say (the envelope: data's shape per
// method, type, siteId) is this package's own code, in enrich.go.
var recordSchemas = sync.OnceValues(func() (map[schemas.Collection]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	out := make(map[schemas.Collection]*jsonschema.Schema, len(collections))
	for _, coll := range collections {
		name := "ups-" + string(coll)
		raw, ok := schemas.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("ups sandbox: no JSON Schema %q", name)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("ups sandbox: schema %s: %w", name, err)
		}
		url := name + ".schema.json"
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("ups sandbox: schema %s: %w", name, err)
		}
		if out[coll], err = c.Compile(url); err != nil {
			return nil, fmt.Errorf("ups sandbox: schema %s: %w", name, err)
		}
	}
	return out, nil
})

// collections are the four enrichment collections of the reference, spelled
// as its URLs spell them.
var collections = []schemas.Collection{
	schemas.UserAttributes, schemas.Segments, schemas.UserLinking, schemas.UserPreferences,
}

// parseCollection reads the collection segment of an enrichment URL.
func parseCollection(s string) (schemas.Collection, bool) {
	for _, c := range collections {
		if string(c) == s {
			return c, true
		}
	}
	return "", false
}

// collectionSchema is the compiled schema of a collection's records.
func collectionSchema(coll schemas.Collection) *jsonschema.Schema {
	all, err := recordSchemas()
	if err != nil {
		// The schemas are embedded in the binary: this is a build defect.
		panic(err)
	}
	return all[coll]
}

// checkRecord validates one element of data against coll's schema and
// returns it, or the broken rules as "path: rule; ...".
func checkRecord(coll schemas.Collection, raw json.RawMessage) (schemas.UPSRecord, string) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return schemas.UPSRecord{}, "$: " + err.Error()
	}
	if err := collectionSchema(coll).Validate(inst); err != nil {
		return schemas.UPSRecord{}, schemaViolations(err)
	}
	var rec schemas.UPSRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		// The schema held, so this cannot happen short of a library bug.
		return schemas.UPSRecord{}, "$: " + err.Error()
	}
	rec.Value = bytes.Clone(rec.Value)
	return rec, ""
}

// schemaViolations lists what a schema validation found as "path: rule",
// the path in the $.a.b[0] form, the rules in the stand-in's own words for
// the usual ones and in the library's for the rest.
func schemaViolations(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return "$: " + err.Error()
	}
	var parts []string
	add := func(path, rule string) { parts = append(parts, path+": "+rule) }
	for _, u := range ve.BasicOutput().Errors {
		if u.Error == nil {
			continue
		}
		path := jsonPath(u.InstanceLocation)
		switch k := u.Error.Kind.(type) {
		case *kind.Group, *kind.Schema:
			// A parent whose causes are listed too.
		case *kind.Type:
			add(path, "must be "+article(strings.Join(k.Want, " or ")))
		case *kind.AdditionalProperties:
			for _, name := range k.Properties {
				add(path+"."+name, "is not a known field")
			}
		case *kind.Required:
			for _, name := range k.Missing {
				add(path+"."+name, "is required")
			}
		case *kind.MinLength:
			add(path, fmt.Sprintf("must be at least %d characters long", k.Want))
		default:
			add(path, u.Error.String())
		}
	}
	if len(parts) == 0 {
		return "$: " + strings.TrimSpace(err.Error())
	}
	return strings.Join(parts, "; ")
}

// article puts "a" or "an" before a JSON type name.
func article(noun string) string {
	if noun != "" && strings.IndexByte("aeiou", noun[0]) >= 0 {
		return "an " + noun
	}
	return "a " + noun
}

// jsonPath turns a JSON Pointer into a JSONPath: /value/like/0 becomes
// $.value.like[0].
func jsonPath(pointer string) string {
	var b strings.Builder
	b.WriteString("$")
	if pointer == "" {
		return b.String()
	}
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
			continue
		}
		b.WriteString("." + tok)
	}
	return b.String()
}
