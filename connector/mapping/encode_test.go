package mapping

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/big"
	"testing"

	"github.com/itchyny/gojq"

	"github.com/contactlab/connector/streams"
)

// encodeProgram gives, from any JSON input, values of every type a jq
// program outputs: the input itself, numbers computed from it (floats of
// every size, integers past int64), strings with every escape.
const encodeProgram = `.value, (.value | .. | numbers | (., . * 3.7, . / 1e7, . * 1e300, -. )), ` +
	`(.value | .. | strings | (., explode, ascii_downcase)), ([.value | .. | scalars] | length), ` +
	`(9007199254740993 * 1000), ({b: 1, a: [2, {d: null, c: "\u0000\u007f\b\f<>&\u2028"}]})`

func FuzzEncode(f *testing.F) {
	for _, c := range parseJSONCases {
		f.Add([]byte(c))
	}
	f.Add([]byte("\"\xff\xfe\x01 caf\xc3\xa9\""))
	p := mustCompile(f, encodeProgram)
	f.Fuzz(func(t *testing.T, value []byte) {
		in, err := Input(&streams.Record{Value: value})
		if err != nil {
			return
		}
		iter := p.code.RunWithContext(context.Background(), in)
		for {
			v, ok := iter.Next()
			if !ok {
				return
			}
			if _, isErr := v.(error); isErr {
				return
			}
			checkEncode(t, v)
		}
	})
}

func TestEncodeAgreesWithGojq(t *testing.T) {
	for _, v := range []any{nil, true, false, 0, -1, math.MaxInt64, 1.5, 1e21, 1e-7, 1.5e-9, math.NaN(), math.Inf(1), math.Inf(-1), -0.0,
		new(big.Int).Lsh(big.NewInt(1), 100), json.Number("1.50"), "", "a\"b\\c\n\t\r\b\f\x01\x7f\xff é",
		[]any{}, map[string]any{}, map[string]any{"z": 1, "a": []any{1, "x", map[string]any{"k": nil}}},
	} {
		checkEncode(t, v)
	}
	many := map[string]any{}
	for i := range 40 { // more members than the keys kept on the stack
		many[string(rune('a'+i%26))+string(rune('A'+i))] = i
	}
	checkEncode(t, many)
}

func checkEncode(t *testing.T, v any) {
	t.Helper()
	want, werr := gojq.Marshal(v)
	got, gerr := encode(v)
	if !bytes.Equal(got, want) || (werr == nil) != (gerr == nil) {
		t.Fatalf("encode(%#v) = %s, %v; gojq.Marshal: %s, %v", v, got, gerr, want, werr)
	}
}
