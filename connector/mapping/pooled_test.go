package mapping

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/itchyny/gojq"

	"github.com/contactlab/connector/streams"
)

// Program.Run takes gojq's execution environment from a pool
// (third_party/gojq/pooled.go): a run must see nothing of the runs before
// it, however they ended. Every example mapping and a set of programs that
// use the VM's harder parts (forks and backtracking, labels, paths,
// reduce/foreach, variables, errors part-way through, a run left with
// outputs unread) run on the examples' samples in a random order, interleaved,
// and each run's outputs or error must be those of a fresh environment.
func TestPooledRunsMatchFreshRuns(t *testing.T) {
	progs := map[string]string{
		"fork":      `.value | .. | numbers`,
		"label":     `label $out | .value | to_entries[] | if .key == "orderId" then ., break $out else .key end`,
		"paths":     `[paths(type == "number")] | length`,
		"reduce":    `reduce (.value | .. | numbers) as $n (0; . + $n)`,
		"foreach":   `[foreach (.value | .. | strings) as $s (0; . + 1; [., $s])] | .[-1]`,
		"vars":      `.value as {orderId: $id} | .key as $k | {$id, $k, offset}`,
		"tryerr":    `[.value | .. | try error("e\(.)") catch .] | length`,
		"midway":    `.value | .. | if type == "array" then error("stop at \(length)") else . end`,
		"getpath":   `[getpath(["value","customer","email"], ["value","lines",0,"sku"])]`,
		"setpath":   `.value | setpath(["a","b"]; 1) | del(.lines) | keys`,
		"limit":     `[limit(3; .value | ..)] | length`,
		"first":     `first(.value | .. | strings)`,
		"recursion": `def f($n): if $n == 0 then 0 else f($n - 1) + 1 end; f(50)`,
		"alt":       `(.value.nothing // .headers["none"] // "x"), (.value.lines[]?.sku // empty)`,
		"halt":      `if .offset == 2 then halt else . end | .topic`,
		"abandoned": `if .offset == 1 then range(2 * 1000) else .offset end`, // more than MaxOutputs: left part-way
	}
	for _, f := range []string{"orders/completed_order.jq", "orders/ups_segments.jq", "consent/categorization.jq", "crm-customers/user_attributes.jq", "product-viewed/viewed_product.jq"} {
		src, err := os.ReadFile(filepath.Join("../../examples", f))
		if err != nil {
			t.Fatal(err)
		}
		progs[f] = string(src)
	}
	var inputs []*streams.Record
	for _, dir := range []string{"orders", "consent", "crm-customers", "product-viewed"} {
		for i, line := range readLines(t, filepath.Join("../../examples", dir, "samples.jsonl")) {
			inputs = append(inputs, &streams.Record{Topic: dir, Key: []byte(fmt.Sprint(i)), Value: line, Offset: int64(i),
				Headers: []streams.Header{{Key: "x-test-traffic", Value: []byte("false")}}})
		}
	}
	inputs = append(inputs, &streams.Record{Topic: "t", Value: []byte("not json")}, &streams.Record{Topic: "t"})

	type job struct {
		name string
		p    *Program
		in   *streams.Record
	}
	var jobs []job
	for name, src := range progs {
		p, err := Compile(name, src)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, in := range inputs {
			jobs = append(jobs, job{name, p, in})
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	outputs, errs := 0, 0
	for round := range 3 {
		rng.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
		for _, j := range jobs {
			in, err := Input(j.in)
			if err != nil {
				t.Fatal(err)
			}
			got, gotErr := j.p.Run(ctx, in)
			want, wantErr := freshRun(j.p, in)
			if len(want) > MaxOutputs {
				want, wantErr = nil, fmt.Errorf("the mapping gave more than %d outputs for one record", MaxOutputs)
			}
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || fmt.Sprintf("%s", got) != fmt.Sprintf("%s", want) {
				t.Fatalf("round %d, %s on %s@%d:\npooled %s %v\nfresh  %s %v", round, j.name, j.in.Topic, j.in.Offset, got, gotErr, want, wantErr)
			}
			outputs += len(got)
			if gotErr != nil {
				errs++
			}
		}
	}
	if outputs == 0 || errs == 0 {
		t.Fatalf("the runs gave %d outputs and %d errors: both should be some", outputs, errs)
	}
	t.Logf("%d runs: %d outputs, %d errors, all as on a fresh environment", 3*len(jobs), outputs, errs)
}

// freshRun is Program.Run on a new environment, as gojq runs it unpatched.
func freshRun(p *Program, in map[string]any) ([][]byte, error) {
	var outs [][]byte
	it := p.code.RunWithContext(context.Background(), in)
	for {
		v, ok := it.Next()
		if !ok {
			return outs, nil
		}
		if err, isErr := v.(error); isErr {
			if halt := (*gojq.HaltError)(nil); errors.As(err, &halt) && halt.Value() == nil && halt.ExitCode() == 0 {
				return outs, nil
			}
			return nil, err
		}
		b, err := encode(v)
		if err != nil {
			return nil, err
		}
		outs = append(outs, b)
	}
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			lines = append(lines, l)
		}
	}
	return lines
}
