package bench

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Row is one figure of the table: its value beside its target.
type Row struct {
	Group, Figure string
	// Value is the figure; Measured is false when its run failed or was
	// skipped, and Note then says why.
	Value    float64
	Measured bool
	// Op is ">=", "<=" or "" for a figure without a target.
	Op     string
	Target float64
	What   string
	Note   string
}

// Met reports whether the row has a target and meets it.
func (r Row) Met() bool {
	return r.Measured && ((r.Op == ">=" && r.Value >= r.Target) || (r.Op == "<=" && r.Value <= r.Target))
}

// Table is every row of one make bench run, in order.
type Table struct {
	Rows []Row
	// LoadStart and LoadEnd are the machine's load averages (1, 5, 15
	// minutes) around the run: the figures are only as quiet as it was.
	LoadStart, LoadEnd string
}

// add appends a measured figure.
func (t *Table) add(group, figure string, v float64, op string, target float64, what string) {
	t.Rows = append(t.Rows, Row{Group: group, Figure: figure, Value: v, Measured: true, Op: op, Target: target, What: what})
}

// missing appends a figure that was not measured, and why.
func (t *Table) missing(group, figure, op string, target float64, what, why string) {
	t.Rows = append(t.Rows, Row{Group: group, Figure: figure, Op: op, Target: target, What: what, Note: why})
}

// Missed counts the rows with a target that was missed or not measured.
func (t *Table) Missed() int {
	n := 0
	for _, r := range t.Rows {
		if r.Op != "" && !r.Met() {
			n++
		}
	}
	return n
}

// Print writes the table: group, figure, value, target, whether it is met
// and what the figure is.
func (t *Table) Print(w io.Writer) {
	fmt.Fprintf(w, "%-22s %-20s %12s %10s  %-4s %s\n", "benchmark", "figure", "value", "target", "met", "what")
	fmt.Fprintln(w, strings.Repeat("-", 132))
	for _, r := range t.Rows {
		val, tgt, met := "not run", "", ""
		if r.Op != "" {
			tgt = r.Op + " " + strconv.FormatFloat(r.Target, 'g', -1, 64)
		}
		if r.Measured {
			val = format(r.Value)
			switch {
			case r.Op == "":
			case r.Met():
				met = "yes"
			default:
				met = "NO"
			}
		} else if r.Op != "" {
			met = "NO"
		}
		what := r.What
		if r.Note != "" {
			what += " [" + r.Note + "]"
		}
		fmt.Fprintf(w, "%-22s %-20s %12s %10s  %-4s %s\n", r.Group, r.Figure, val, tgt, met, what)
	}
	fmt.Fprintf(w, "\nload average (1, 5, 15 min): %s at start, %s at end\n", t.LoadStart, t.LoadEnd)
	if n := t.Missed(); n > 0 {
		fmt.Fprintf(w, "%d target(s) missed or not measured\n", n)
	}
}

// format prints large figures whole and small ones with the decimals that
// matter.
func format(v float64) string {
	switch {
	case v >= 1000 || v <= -1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10 || v <= -10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 0.1 || v <= -0.1 || v == 0:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		// Tiny figures (idle CPU per pipeline): two significant digits.
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
}
