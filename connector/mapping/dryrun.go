package mapping

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/delivery"
)

// Result is what a sink with a mapping would do with one input record,
// without Kafka or an API: `connector map` prints one per input line.
type Result struct {
	// Line is the input's line number, from 1.
	Line int `json:"line"`
	// Outputs are the program's outputs with the sink's verdict on each.
	Outputs []Output `json:"outputs,omitempty"`
	// Filtered: no output; the record would be committed and counted as
	// filtered.
	Filtered bool `json:"filtered,omitempty"`
	// Reason and Error: the record would be dead-lettered (reason
	// "mapping" or "invalid") with this error.
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Output is one output and the sink's verdict on it.
type Output struct {
	Value json.RawMessage `json:"value"`
	Valid bool            `json:"valid"`
	// Violations are the schema's broken rules with their JSON paths;
	// Error is the verdict when it is not a schema violation.
	Violations []Violation `json:"violations,omitempty"`
	Error      string      `json:"error,omitempty"`
}

// Violation is one broken rule of the sink's schema.
type Violation struct {
	Path string `json:"path"`
	Rule string `json:"rule"`
}

// DeadLettered reports whether the record would be dead-lettered.
func (r Result) DeadLettered() bool { return r.Reason != "" }

// Map runs p on one record as a sink would (Input, Run, check on every
// output) and says what would happen to it.
func Map(ctx context.Context, p *Program, check Check, r *streams.Record) Result {
	var res Result
	outs, err := outputs(ctx, p, nil, false, r)
	if err != nil {
		res.Reason, res.Error = delivery.ReasonOf(err), err.Error()
		return res
	}
	if len(outs) == 0 {
		res.Filtered = true
		return res
	}
	for i, o := range outs {
		out := Output{Value: o, Valid: true}
		if check != nil {
			if err := check(o); err != nil {
				out.Valid = false
				var ve *schemas.ValidationError
				if errors.As(err, &ve) {
					for _, v := range ve.Violations {
						out.Violations = append(out.Violations, Violation{v.Path, v.Rule})
					}
				} else {
					out.Error = err.Error()
				}
				if res.Reason == "" {
					res.Reason, res.Error = "invalid", (&OutputError{Index: i, Err: err}).Error()
				}
			}
		}
		res.Outputs = append(res.Outputs, out)
	}
	return res
}

// inputKeys are the members of an input line read as a record rather than
// as a bare value.
var inputKeys = map[string]bool{"key": true, "value": true, "raw": true, "headers": true, "topic": true, "partition": true, "offset": true, "timestamp": true}

// RecordOf reads one input line: a JSON object with the input document's
// members (key, value or raw, headers, topic, partition, offset,
// timestamp; at least value or raw, and no other member) is that record;
// any other JSON value is a record with that value.
func RecordOf(line []byte) (*streams.Record, error) {
	line = bytes.TrimSpace(line)
	if !json.Valid(line) {
		return nil, errors.New("not a JSON value")
	}
	r := &streams.Record{Topic: "input", Value: line}
	var members map[string]json.RawMessage
	if json.Unmarshal(line, &members) != nil {
		return r, nil
	}
	_, hasValue := members["value"]
	_, hasRaw := members["raw"]
	for k := range members {
		if !inputKeys[k] {
			return r, nil
		}
	}
	if !hasValue && !hasRaw {
		return r, nil
	}
	var doc struct {
		Key       *string           `json:"key"`
		Value     json.RawMessage   `json:"value"`
		Raw       *string           `json:"raw"`
		Headers   map[string]string `json:"headers"`
		Topic     string            `json:"topic"`
		Partition int               `json:"partition"`
		Offset    int64             `json:"offset"`
		Timestamp *time.Time        `json:"timestamp"`
	}
	if err := json.Unmarshal(line, &doc); err != nil {
		return nil, fmt.Errorf("an input record: %w", err)
	}
	r = &streams.Record{Topic: doc.Topic, Partition: doc.Partition, Offset: doc.Offset, Value: doc.Value}
	if r.Topic == "" {
		r.Topic = "input"
	}
	if doc.Raw != nil {
		r.Value = []byte(*doc.Raw)
	}
	if doc.Key != nil {
		r.Key = []byte(*doc.Key)
	}
	if doc.Timestamp != nil {
		r.Time = *doc.Timestamp
	}
	for _, k := range slices.Sorted(maps.Keys(doc.Headers)) {
		r.Headers = append(r.Headers, streams.Header{Key: k, Value: []byte(doc.Headers[k])})
	}
	return r, nil
}

// DryRun maps every line of in (blank lines and lines starting with # are
// skipped) and hands each Result to emit. A line that is not JSON is a
// Result with reason "input".
func DryRun(ctx context.Context, p *Program, check Check, in io.Reader, emit func(Result)) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		r, err := RecordOf(line)
		if err != nil {
			emit(Result{Line: n, Reason: "input", Error: err.Error()})
			continue
		}
		res := Map(ctx, p, check, r)
		res.Line = n
		emit(res)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return sc.Err()
}

// WriteText writes res for a person: each output with its verdict.
func WriteText(w io.Writer, res Result) {
	switch {
	case res.Filtered:
		fmt.Fprintf(w, "line %d: filtered (no output; committed, counted as filtered)\n", res.Line)
		return
	case len(res.Outputs) == 0:
		fmt.Fprintf(w, "line %d: dead letter (%s): %s\n", res.Line, res.Reason, res.Error)
		return
	}
	verdict := "delivered"
	if res.DeadLettered() {
		verdict = "dead letter (" + res.Reason + "): nothing sent"
	}
	fmt.Fprintf(w, "line %d: %d output(s): %s\n", res.Line, len(res.Outputs), verdict)
	for i, o := range res.Outputs {
		fmt.Fprintf(w, "  output[%d] %s\n", i, o.Value)
		switch {
		case o.Valid:
			fmt.Fprintln(w, "    valid")
		case len(o.Violations) > 0:
			for _, v := range o.Violations {
				fmt.Fprintf(w, "    invalid: %s: %s\n", v.Path, v.Rule)
			}
		default:
			fmt.Fprintf(w, "    invalid: %s\n", strings.TrimSpace(o.Error))
		}
	}
}
