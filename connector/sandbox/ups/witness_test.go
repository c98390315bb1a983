package ups

import (
	"go/ast"
	"net/http"
	"strings"
	"testing"

	"github.com/contactlab/connector/connector/sandbox/internal/witness"
)

// The stand-in is a witness of the reference, not an echo of the
// connector: none of its code calls the connector's decoders or validators
// (package schemas' Decode functions and Validate methods). It reads the
// JSON Schema files through a library of its own choosing (rules.go).
func TestRulesAreTheStandInsOwn(t *testing.T) {
	assertNoConnectorDecoders(t, ".")
}

// assertNoConnectorDecoders fails for any call of schemas.Decode* or of a
// Validate method in the non-test Go files of dir.
func assertNoConnectorDecoders(t *testing.T, dir string) {
	t.Helper()
	fset, files := witness.Sources(t, dir, 0)
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == "schemas" && strings.HasPrefix(sel.Sel.Name, "Decode") {
				t.Errorf("%s: calls schemas.%s: the stand-in must check with rules of its own", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}

// The status service's words are a setting: the reference shows FAILED
// only, so a test can make the stand-in answer with words a client does
// not know and see it survive them.
func TestStatusWordsAreASetting(t *testing.T) {
	cfg := testConfig()
	cfg.RunningStatus, cfg.CompletedStatus, cfg.FailedStatus = "IN_PROGRESS", "PROCESSED", "FAILED"
	cfg.JobFailShare = 0
	clock := newFakeClock()
	sb := newSandbox(t, cfg, clock)
	tok, statusTok := sb.token(attributesService), sb.token(statusService)
	aa := sb.accepted(http.MethodPost, "rr-userattributes", tok, batch(attrs("u", 1)))
	word := func() string {
		var sa statusAnswer
		a := sb.status(statusTok, aa.JobID, "")
		a.decode(t, &sa)
		if sa.Summary.JobStatus != sa.Summary.Job.Status {
			t.Fatalf("job-status %q and job.status %q differ", sa.Summary.JobStatus, sa.Summary.Job.Status)
		}
		return sa.Summary.JobStatus
	}
	if w := word(); w != "IN_PROGRESS" {
		t.Fatalf("running job says %q, want IN_PROGRESS", w)
	}
	clock.Advance(DefaultJobDuration)
	if w := word(); w != "PROCESSED" {
		t.Fatalf("completed job says %q, want PROCESSED", w)
	}
	if _, err := New(Config{ClientID: "c", ClientSecret: "s", APIKey: "1", RunningStatus: "X", CompletedStatus: "X"}); err == nil {
		t.Fatal("two states with one word were accepted")
	}
}

// The reference shows the token request both ways: its curl example sends
// the credentials as form fields, its prose as a query string. By default
// the stand-in takes either; set to one style it refuses the other, so a
// client can be tested against each reading.
func TestTokenStyleIsASetting(t *testing.T) {
	creds := testCredentials()
	cases := []struct {
		style                  TokenStyle
		form, query, basicAuth int
	}{
		{TokenStyleAny, http.StatusOK, http.StatusOK, http.StatusOK},
		{TokenStyleForm, http.StatusOK, http.StatusUnauthorized, http.StatusUnauthorized},
		{TokenStyleQuery, http.StatusUnauthorized, http.StatusOK, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(string(tc.style), func(t *testing.T) {
			cfg := testConfig()
			cfg.TokenStyle = tc.style
			sb := newSandbox(t, cfg, nil)
			for how, want := range map[string]int{"form": tc.form, "query": tc.query, "basic": tc.basicAuth} {
				if a := sb.requestToken(attributesService, how, creds); a.status != want {
					t.Errorf("credentials as %s: status %d (%s), want %d", how, a.status, a.body, want)
				}
			}
		})
	}
	if _, err := New(Config{ClientID: "c", ClientSecret: "s", APIKey: "1", TokenStyle: "header"}); err == nil {
		t.Fatal("an unknown token style was accepted")
	}
}

// Records are checked with the JSON Schemas, in the stand-in's words; the
// answer names the path and the rule of every bad record.
func TestRecordRulesNameThePath(t *testing.T) {
	sb := newSandbox(t, testConfig(), nil)
	tok := sb.token(attributesService)
	cases := []struct {
		collection, record, want string
	}{
		{"rr-userpreferences", `{"userId":"u","value":{"love":["p1"]}}`, "$.value.love: is not a known field"},
		{"rr-userpreferences", `{"userId":"u","value":{"Notforrecs":["p1"],"disLike":[1]}}`, "$.value.disLike[0]: must be a string"},
		{"userlinking", `{"userId":"u","value":["a",""]}`, "$.value[1]: must be at least 1 characters long"},
		{"rr-segments", `{"userId":"","value":{}}`, "$.userId: must be at least 1 characters long"},
		{"rr-userattributes", `{"value":{}}`, "$.userId: is required"},
	}
	for _, tc := range cases {
		a := sb.send(http.MethodPost, tc.collection, tok, []byte(`{"data":[`+tc.record+`]}`))
		if a.status != http.StatusBadRequest {
			t.Errorf("%s %s: status %d, want 400", tc.collection, tc.record, a.status)
			continue
		}
		mustContain(t, a.body, tc.want)
	}
}
