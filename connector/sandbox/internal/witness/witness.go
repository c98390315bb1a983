// Package witness reads a stand-in's own source for its tests, which check
// that the stand-in is a witness of the reference and not an echo of the
// connector (it does not check with the connector's decoders). It is for
// tests only.
package witness

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// Sources parses the non-test Go files of dir with mode, failing the test
// on any error; fset places the files' nodes.
func Sources(t testing.TB, dir string, mode parser.Mode) (fset *token.FileSet, files []*ast.File) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset = token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, mode)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return fset, files
}
