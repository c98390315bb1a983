package enablenow

import (
	"go/parser"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/sandbox/internal/witness"
)

// The stand-in is a witness of the reference, not an echo of the
// connector: none of its code calls the connector's decoders (package
// schemas' Decode functions); its rules are rules.go's.
func TestRulesAreTheStandInsOwn(t *testing.T) {
	fset, files := witness.Sources(t, ".", parser.ImportsOnly)
	for _, f := range files {
		for _, imp := range f.Imports {
			if imp.Path.Value == `"github.com/contactlab/connector/schemas"` {
				t.Errorf("%s imports the connector's package schemas: the stand-in must check with rules of its own", fset.Position(f.Pos()).Filename)
			}
		}
	}
}

// The reference documents e1 and recommends it; it does not say other
// engines are refused. By default the stand-in takes another engine with
// whatever fields it has (the e1 rules are e1's), and remembers it under
// its idempotency key like any other; set to serve e1 only, it refuses it.
func TestOtherEngines(t *testing.T) {
	const body = `{"engine":"e2","profile":"travel","countryCode":"be","metaData":{"a":1},"locale":"nl-NL","userId":"u"}`
	sb := start(t, Config{})
	got := sb.createdJob(t, body, "k2")
	if got.Engine != "e2" || got.Profile != "" || got.ID == "" {
		t.Fatalf("created %+v, want an e2 job", got)
	}
	jobs := sb.srv.Jobs()
	if len(jobs) != 1 || jobs[0].Request.Engine != "e2" || string(jobs[0].Request.Body) != body {
		t.Fatalf("Jobs() = %+v, want the e2 request as sent", jobs)
	}
	// The same request re-encoded is a retry; another request is not.
	if a := sb.create(t, `{"userId":"u","locale":"nl-NL","metaData":{"a":1},"countryCode":"be","profile":"travel","engine":"e2"}`, "k2"); a.status != http.StatusOK {
		t.Fatalf("replay re-encoded: %d %s", a.status, a.body)
	}
	if a := sb.create(t, `{"engine":"e2","userId":"v"}`, "k2"); a.status != http.StatusUnprocessableEntity {
		t.Fatalf("key reused with another e2 request: %d %s", a.status, a.body)
	}
	only := start(t, Config{Engines: []string{"e1"}})
	if a := only.create(t, body, ""); a.status != http.StatusBadRequest || !strings.Contains(string(a.body), "engine") {
		t.Fatalf("serving e1 only: %d %s, want 400 naming the engine", a.status, a.body)
	}
	if _, err := New(Config{Token: "t", Engines: []string{""}}); err == nil {
		t.Fatal("an empty engine was accepted in Engines")
	}
}

// The reference shows no answer to a creation: by default the stand-in
// answers with the job and its Location, and it can name no job at all,
// so a client can be tested against an answer it cannot follow.
func TestCreateAnswers(t *testing.T) {
	cases := []struct {
		answer         CreateAnswer
		status, replay int
		wantID         bool
	}{
		{CreateAnswerResource, http.StatusCreated, http.StatusOK, true},
		{CreateAnswerEmpty, http.StatusAccepted, http.StatusOK, false},
		{CreateAnswerNoID, http.StatusCreated, http.StatusOK, false},
	}
	for _, tc := range cases {
		t.Run(string(tc.answer), func(t *testing.T) {
			sb := start(t, Config{CreateAnswer: tc.answer})
			a := sb.create(t, `{"userId":"u"}`, "k")
			if a.status != tc.status || (a.header.Get("Location") != "") != tc.wantID || strings.Contains(string(a.body), `"id"`) != tc.wantID {
				t.Fatalf("answer %d, Location %q, body %s", a.status, a.header.Get("Location"), a.body)
			}
			r := sb.create(t, `{"userId":"u"}`, "k")
			if r.status != tc.replay || r.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replay %d %v %s", r.status, r.header, r.body)
			}
			if sb.srv.JobsFor("k") != 1 {
				t.Fatalf("%d jobs for one key", sb.srv.JobsFor("k"))
			}
		})
	}
	if _, err := New(Config{Token: "t", CreateAnswer: "teapot"}); err == nil {
		t.Fatal("an unknown CreateAnswer was accepted")
	}
}

// Status words are the stand-in's (the reference documents none): a test
// sets words a client does not know, or none at all.
func TestStatusWords(t *testing.T) {
	clock := newFakeClock()
	sb := start(t, Config{Now: clock.Now, StatusSteps: []string{"Waiting", "Done"}, FailedStatus: "Broken", FailShare: 1})
	id := sb.createdJob(t, `{"userId":"u"}`, "").ID
	if got := sb.getJob(t, id).Status; got != "Waiting" {
		t.Fatalf("status %q, want Waiting", got)
	}
	clock.Advance(time.Second)
	if got := sb.getJob(t, id).Status; got != "Broken" {
		t.Fatalf("status %q, want Broken", got)
	}
	none := start(t, Config{OmitStatus: true})
	a := none.create(t, `{"userId":"u"}`, "")
	if a.status != http.StatusCreated || strings.Contains(string(a.body), `"status"`) {
		t.Fatalf("creation %d %s, want no status", a.status, a.body)
	}
	if _, err := New(Config{Token: "t", StatusSteps: []string{"Broken"}, FailedStatus: "Broken"}); err == nil {
		t.Fatal("the failed word as a step was accepted")
	}
}
