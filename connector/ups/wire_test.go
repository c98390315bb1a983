package ups

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contactlab/connector/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", name), got, *update)
}

// The results topic is read by other teams' consumers: its shape is pinned.
func TestJobResultWireFormat(t *testing.T) {
	at := time.Date(2023, 6, 3, 8, 7, 17, 992_000_000, time.UTC)
	r := JobResult{
		JobID: "a86d0680-01e5-11ee-8080-808080808080", Version: 1685779637992,
		Pipeline: "ups-attributes", Collection: "rr-userattributes", Records: 1000, Status: "FAILED",
		Errors:  []string{"Failed to update data to cassandra: com.rr.ups.attribute.api.common.exception.AttributeApiProcessException: java.lang.RuntimeException: AttributesApiWriter aborting due to error"},
		Attempt: 2, AcceptedAt: at, EndedAt: at.Add(9410 * time.Millisecond),
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "job-result.golden.json", append(b, '\n'))
}

// The request body, decompressed, as the reference's Example #6 shapes it.
func TestRequestBodyWireFormat(t *testing.T) {
	b, _ := newTestBatcher(BatcherConfig{SiteID: 1723, Grouped: true})
	admitEntries(b,
		&entry{user: "123abcde", data: []byte(`{"userId":"123abcde","value":["983448b36267fc69"]}`), pos: position{topic: "t", offset: 1}},
		&entry{user: "345erty", data: []byte(`{"userId":"345erty","value":["983448b36267fc69"]}`), pos: position{topic: "t", offset: 2}},
	)
	req := next(t, b, 1000)
	zr, err := gzip.NewReader(bytes.NewReader(req.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	golden(t, "userlinking-grouped.golden.json", append(plain, '\n'))
}

// FuzzRequestBody: whatever the records, a built request decompresses to an
// enrichment payload holding exactly the records taken, in order, within
// the body limit.
func FuzzRequestBody(f *testing.F) {
	f.Add("alice", `{"a":["x"]}`, 3, uint16(2048))
	f.Add("ünïcödé", `["1234","9fab6bce"]`, 40, uint16(1024))
	f.Add("u", `{"big":"`+strings.Repeat("z", 3000)+`"}`, 5, uint16(4096))
	f.Fuzz(func(t *testing.T, user, value string, n int, limit uint16) {
		if !json.Valid([]byte(value)) || n < 1 || n > 200 || limit < 1024 {
			return
		}
		b, _ := newTestBatcher(BatcherConfig{MaxRecords: 1000, MaxBodyBytes: int(limit)})
		var want []string
		var es []*entry
		for i := range n {
			u := user + string(rune('A'+i%26)) + string(rune('a'+i/26))
			uj, _ := json.Marshal(u)
			data := []byte(`{"userId":` + string(uj) + `,"value":` + value + `}`)
			var compact bytes.Buffer
			if err := json.Compact(&compact, data); err != nil {
				return
			}
			data = compact.Bytes()
			if ok, err := b.fits(data); err != nil || !ok {
				continue
			}
			es = append(es, &entry{user: u, data: data, pos: position{topic: "t", offset: int64(i)}})
			want = append(want, string(data))
		}
		if len(es) == 0 {
			return
		}
		admitEntries(b, es...)
		var got []string
		for {
			req := next(t, b, 1000)
			if req == nil {
				break
			}
			if len(req.body) > int(limit) {
				t.Fatalf("body of %d bytes over the limit %d", len(req.body), limit)
			}
			zr, err := gzip.NewReader(bytes.NewReader(req.body))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			var p struct {
				Data []json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(plain, &p); err != nil {
				t.Fatalf("not a payload: %v\n%s", err, plain)
			}
			for _, d := range p.Data {
				got = append(got, string(d))
			}
			b.Accepted(req)
			b.JobCompleted(req.entries)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("records sent differ from those admitted:\n got %q\nwant %q", got, want)
		}
	})
}
