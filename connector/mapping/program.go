package mapping

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/itchyny/gojq"
)

// MaxOutputs bounds the records one input may fan out to: a program that
// yields more is in error (a runaway generator, not a mapping).
const MaxOutputs = 1000

// Timeout bounds how long a program runs on one input, so that a program
// that loops for ever does not hold a worker for ever. Running out of it is
// an ErrTimeout, which a sink retries rather than dead-letters: a valid
// mapping can take that long on a starved process; one that always does
// is dead-lettered when the retry budget runs out.
const Timeout = 5 * time.Second

// ErrTimeout is a run that took longer than Timeout.
var ErrTimeout = errors.New("the mapping ran longer than its time limit")

// Program is a compiled mapping. It is safe for concurrent use.
type Program struct {
	name    string
	code    *gojq.Code
	timeout time.Duration
}

// SyntaxError is a mapping that does not parse or compile. Line and Column
// are 1-based positions in the program's text (0 when jq does not say,
// as for an undefined function).
type SyntaxError struct {
	// Name says where the program came from ("sinks[0].mapping", a file).
	Name   string
	Line   int
	Column int
	Err    error
}

func (e *SyntaxError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %v", e.Name, e.Err)
	}
	return fmt.Sprintf("%s: line %d, column %d: %v", e.Name, e.Line, e.Column, e.Err)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// Compile parses and compiles the jq program src; name says where it came
// from, for errors. The program sees no environment variables ($ENV and
// env are empty): a mapping must not copy a secret of the process into an
// API call.
func Compile(name, src string) (*Program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, &SyntaxError{Name: name, Err: errors.New("the program is empty")}
	}
	q, err := gojq.Parse(src)
	if err != nil {
		se := &SyntaxError{Name: name, Err: err}
		var pe *gojq.ParseError
		if errors.As(err, &pe) {
			se.Line, se.Column = position(src, pe.Offset-len(pe.Token))
		}
		return nil, se
	}
	code, err := gojq.Compile(q, gojq.WithEnvironLoader(func() []string { return nil }))
	if err != nil {
		return nil, &SyntaxError{Name: name, Err: err}
	}
	return &Program{name: name, code: code, timeout: Timeout}, nil
}

// position is the 1-based line and column of byte offset in src.
func position(src string, offset int) (line, col int) {
	offset = max(0, min(offset, len(src)))
	before := src[:offset]
	line = strings.Count(before, "\n") + 1
	col = offset - strings.LastIndexByte(before, '\n')
	return line, col
}

// Name says where the program came from.
func (p *Program) Name() string { return p.name }

// Run runs the program on one input document (Input builds it) and
// returns its outputs, each encoded as JSON. A jq error, more than
// MaxOutputs outputs, a run longer than Timeout (ErrTimeout) and the end of
// ctx are errors. halt ends the outputs without an error.
func (p *Program) Run(ctx context.Context, in map[string]any) ([][]byte, error) {
	rc := startRun(ctx, p.timeout)
	defer rc.finish()
	// A pooled environment: its stacks, grown by earlier runs, are not
	// allocated again (third_party/gojq/pooled.go).
	it, release := p.code.RunPooled(rc, in)
	defer release()
	var outs [][]byte
	for {
		v, ok := it.Next()
		if !ok {
			return outs, nil
		}
		if err, isErr := v.(error); isErr {
			var halt *gojq.HaltError
			if errors.As(err, &halt) && halt.Value() == nil && halt.ExitCode() == 0 {
				return outs, nil
			}
			if errors.Is(err, context.DeadlineExceeded) && rc.Err() != nil && ctx.Err() == nil {
				return nil, ErrTimeout
			}
			return nil, err
		}
		if len(outs) == MaxOutputs {
			return nil, fmt.Errorf("the mapping gave more than %d outputs for one record", MaxOutputs)
		}
		b, err := encode(v)
		if err != nil {
			return nil, fmt.Errorf("output[%d]: %w", len(outs), err)
		}
		outs = append(outs, b)
	}
}
