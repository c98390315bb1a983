package contacthub

import (
	"strings"
	"testing"
)

// The scan of an answer over the read limit keeps where the update is and
// what it is about, whatever the members' order, and skips the rest.
func TestScanOversizedPage(t *testing.T) {
	for _, tc := range []struct {
		name, page string
		want       oversizedUpdate
		bad        bool
	}{
		{name: "reference shape", page: `{"nextOffset": 9, "updates": [{"operation": "UPDATE", "entity": {"type": "CUSTOMER", "data": {"base": {"id": "no"}, "id": "c1", "x": [1, {"y": 2}]}}}]}`,
			want: oversizedUpdate{nextOffset: 9, operation: "UPDATE", entityType: "CUSTOMER", id: "c1", dataBytes: 54}},
		{name: "own offset, members reordered", page: `{"updates": [{"entity": {"data": {"customerId": "c2", "id": "e1"}, "type": "EVENT"}, "offset": 8, "operation": "CREATE"}], "nextOffset": 8, "extra": {"a": [1]}}`,
			want: oversizedUpdate{nextOffset: 8, offset: 8, hasOffset: true, operation: "CREATE", entityType: "EVENT", id: "e1", customerID: "c2", dataBytes: 32}},
		{name: "null offset", page: `{"nextOffset": 3, "updates": [{"offset": null, "entity": {"data": "text"}}]}`,
			want: oversizedUpdate{nextOffset: 3}},
		{name: "no update", page: `{"nextOffset": 3, "updates": []}`, want: oversizedUpdate{nextOffset: 3, empty: true}},
		{name: "second update skipped", page: `{"nextOffset": 2, "updates": [{"operation": "CREATE"}, {"operation": "DELETE"}]}`,
			want: oversizedUpdate{nextOffset: 2, operation: "CREATE"}},
		{name: "not an object", page: `[1]`, bad: true},
		{name: "negative offset", page: `{"nextOffset": -1}`, bad: true},
		{name: "cut short", page: `{"nextOffset": 1, "updates": [{"entity": {"data": {"id": "c`, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scanOversizedPage(strings.NewReader(tc.page))
			if tc.bad {
				if err == nil {
					t.Fatalf("scanned %+v, want an error", got)
				}
				return
			}
			if err != nil || *got != tc.want {
				t.Fatalf("scanned %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// FuzzScanOversizedPage: the scan never panics, whatever the answer.
func FuzzScanOversizedPage(f *testing.F) {
	f.Add([]byte(`{"nextOffset": 9, "updates": [{"offset": 9, "operation": "UPDATE", "entity": {"type": "CUSTOMER", "data": {"id": "c1"}}}]}`))
	f.Add([]byte(`{"updates": [[], {}], "nextOffset": null}`))
	f.Fuzz(func(t *testing.T, page []byte) {
		_, _ = scanOversizedPage(strings.NewReader(string(page)))
	})
}
