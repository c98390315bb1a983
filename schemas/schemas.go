package schemas

import (
	"embed"
	"io/fs"
	"slices"
	"strings"
)

// files are the JSON Schemas (draft 2020-12) of every message this package
// validates, shipped in the binary so the connector can serve or log the
// exact contract it enforces.
//
//go:embed json/*.schema.json
var files embed.FS

const schemaSuffix = ".schema.json"

// names is read from the embedded directory, so adding a schema file is
// enough to make it visible to Lookup and Names.
var names = func() []string {
	entries, err := fs.ReadDir(files, "json")
	if err != nil {
		panic("schemas: embedded schemas unreadable: " + err.Error())
	}
	var ns []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), schemaSuffix); ok {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	return ns
}()

// Names are the names Lookup knows, sorted: "categorization-request",
// "event", "update-envelope", "ups-rr-segments", ... They are also the Schema
// of a *ValidationError.
func Names() []string {
	return slices.Clone(names)
}

// Lookup returns the bytes of the schema file called name, a fresh copy the
// caller may keep or change.
func Lookup(name string) ([]byte, bool) {
	if _, ok := slices.BinarySearch(names, name); !ok {
		return nil, false
	}
	b, err := files.ReadFile("json/" + name + schemaSuffix)
	if err != nil {
		return nil, false
	}
	return b, true
}
