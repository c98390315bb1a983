// Package configcheck checks the configuration of a sandbox stand-in from
// one table, so that every stand-in decides what is valid for each field in
// one place, checks its fault settings alike, and reports every bad field at
// once instead of one per restart. Each stand-in keeps its own error type;
// this package only decides which errors there are.
package configcheck

import (
	"errors"

	"github.com/contactlab/connector/connector/sandbox/fault"
)

// Table is a validation table, one row per rule of a field. The zero Table
// is empty and ready.
type Table struct {
	bad []problem
}

type problem struct{ field, reason string }

// Check adds a row: the field, whether its value is bad, and why.
func (t *Table) Check(field string, bad bool, reason string) {
	if bad {
		t.bad = append(t.bad, problem{field, reason})
	}
}

// Errors returns the errors newErr makes for every bad row, in table order,
// and then for every problem of faults (as field "Faults.<field>"), joined;
// nil when nothing is bad.
func (t *Table) Errors(faults fault.Settings, newErr func(field, reason string) error) error {
	var errs []error
	for _, p := range t.bad {
		errs = append(errs, newErr(p.field, p.reason))
	}
	for _, p := range faults.Problems() {
		errs = append(errs, newErr("Faults."+p.Field, p.Reason))
	}
	return errors.Join(errs...)
}
