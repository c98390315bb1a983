package enablenow_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"

	"github.com/contactlab/connector/connector/enablenow"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// FuzzDecodeJobAnswer feeds arbitrary 2xx creation answers to the client:
// it must never panic, and must never return an error, since an error
// would have the request POSTed again (issue 10): it names the job, or says
// the request was created with no job to follow.
func FuzzDecodeJobAnswer(f *testing.F) {
	f.Add([]byte(`{"id":"j-1","status":"Queued"}`), "")
	f.Add([]byte(`{"jobId":"j-2"}`), "")
	f.Add([]byte(``), "/v2/categorization-jobs/j-3")
	f.Add([]byte(`{}`), "categorization-jobs/a%2Fb")
	f.Add([]byte(`null`), "%zz")
	f.Add([]byte(`[]`), "/")
	var (
		mu       sync.Mutex
		body     []byte
		location string
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b, loc := body, location
		mu.Unlock()
		if loc != "" {
			w.Header()["Location"] = []string{loc}
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(b)
	}))
	f.Cleanup(ts.Close)
	client := newClient(ts.URL, nil)
	req := &schemas.CategorizationRequest{UserID: "u"}
	f.Fuzz(func(t *testing.T, b []byte, loc string) {
		mu.Lock()
		body, location = b, loc
		mu.Unlock()
		job, err := client.CreateJob(context.Background(), req, "k")
		if err != nil {
			t.Fatalf("a 201 answer %q, Location %q, is an error (a retry would POST again): %v", b, loc, err)
		}
		if job.ID == "" && job.Outcome != enablenow.OutcomeCreated {
			t.Fatalf("no job id and no created outcome for %q, Location %q: %+v", b, loc, job)
		}
	})
}

// FuzzCategorizationSinkDecides holds for any record value: a value the
// request decoder refuses is rejected as invalid and never reaches the API;
// one it accepts reaches the API exactly once, as the decoded request.
// (The decoder itself is fuzzed by schemas.FuzzDecodeCategorizationRequest.)
func FuzzCategorizationSinkDecides(f *testing.F) {
	for _, s := range []string{
		`{"consentId":"af86536d-34e3-4ebc-6c64-08db56ccef25"}`,
		`{"engine":"e1","profile":"retail","countryCode":"nl","accountIds":["a","b"]}`,
		`{"engine":"e2","userId":"u"}`,
		`{"userId":"u","metaData":{}}`,
		`{"userId":"u","consentId":"c"}`,
		`{"accountIds":[]}`,
		`{`,
	} {
		f.Add([]byte(s))
	}
	var (
		mu   sync.Mutex
		sent [][]byte
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		sent = append(sent, b)
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"j","status":"Queued"}`))
	}))
	f.Cleanup(ts.Close)
	sink := enablenow.NewCategorizationSink(newClient(ts.URL, nil), &memResults{}, nil, nil, nil)
	f.Fuzz(func(t *testing.T, value []byte) {
		mu.Lock()
		sent = nil
		mu.Unlock()
		want, decErr := schemas.DecodeCategorizationRequest(value)
		err := writeBatch(t, context.Background(), sink, &streams.Record{Topic: "t", Value: value})[0]
		mu.Lock()
		calls := sent
		mu.Unlock()
		if decErr != nil {
			var re *streams.RejectError
			if !errors.As(err, &re) || re.Reason != "invalid" || len(calls) != 0 {
				t.Fatalf("invalid %q: err %v, %d calls; want rejected invalid and no call", value, err, len(calls))
			}
			return
		}
		if err != nil || len(calls) != 1 {
			t.Fatalf("valid %q: err %v, %d calls; want delivered in one call", value, err, len(calls))
		}
		got, err := schemas.DecodeCategorizationRequest(calls[0])
		if err != nil {
			t.Fatalf("sent an invalid request %s: %v", calls[0], err)
		}
		wm, gm := want.MetaData, got.MetaData
		want.MetaData, got.MetaData = nil, nil
		if !reflect.DeepEqual(want, got) || !sameJSON(wm, gm) {
			t.Fatalf("sent %s for %s", calls[0], value)
		}
	})
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
