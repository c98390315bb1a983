package enablenow

import (
	"net/http"
	"testing"
)

// A subject the credential may not categorize is refused with 403, naming
// its path, for every way of naming the subject, and so are the reads of a
// job created for it before it was forbidden; every other request works,
// and the refusal comes after the reference's rules.
func TestForbiddenSubjects(t *testing.T) {
	const forbidden = "withdrawn-consent"
	sb := start(t, Config{})
	earlier := sb.createdJob(t, `{"consentId":"`+forbidden+`"}`, "")
	other := sb.createdJob(t, `{"userId":"u-1"}`, "")
	sb.srv.SetForbiddenSubjects(forbidden)
	cases := []struct{ name, body, path string }{
		{"consentId", `{"consentId":"` + forbidden + `"}`, "$.consentId"},
		{"userId", `{"userId":"` + forbidden + `"}`, "$.userId"},
		{"externalUserId", `{"externalUserId":"` + forbidden + `"}`, "$.externalUserId"},
		{"one of accountIds", `{"accountIds":["a-1","` + forbidden + `"]}`, "$.accountIds[1]"},
		// A remembered key does not get past the rule: the replay would
		// tell the client about a subject it may not see.
		{"replay of a key", `{"consentId":"` + forbidden + `"}`, "$.consentId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := sb.create(t, tc.body, "k-"+tc.name)
			if a.status != http.StatusForbidden {
				t.Fatalf("status %d, want 403; body %s", a.status, a.body)
			}
			if e := decode[apiError](t, a); len(e.Errors) != 1 || e.Errors[0].Path != tc.path || e.Message == "" {
				t.Fatalf("answer %s, want the subject's path %s", a.body, tc.path)
			}
		})
	}
	if a := sb.create(t, `{"consentId":"`+forbidden+`","profile":"travel"}`, ""); a.status != http.StatusBadRequest {
		t.Fatalf("a request breaking a rule: status %d, want the 400 first", a.status)
	}
	if a := sb.must(t, http.MethodGet, "/v2/categorization-jobs/"+earlier.ID, "", nil); a.status != http.StatusForbidden {
		t.Fatalf("reading the job of a forbidden subject: status %d, want 403", a.status)
	}
	// The credential works for everything else.
	sb.getJob(t, other.ID)
	sb.createdJob(t, `{"consentId":"c-2"}`, "")
	if a := sb.must(t, http.MethodGet, "/v2/categorization-jobs/00000000-0000-0000-0000-000000000000", "", nil); a.status != http.StatusNotFound {
		t.Fatalf("an unknown job: status %d, want 404", a.status)
	}
	if st := sb.stats(t); st.Forbidden != int64(len(cases))+1 || st.Revoked != 0 || st.Created != 3 {
		t.Fatalf("stats %+v: want %d forbidden, 3 created", st, len(cases)+1)
	}
	sb.srv.SetForbiddenSubjects()
	sb.getJob(t, earlier.ID)
}

// A revoked credential is refused with 403 on every API request, reads
// included, while a wrong one stays a 401; given back, it works again.
func TestRevokedCredential(t *testing.T) {
	sb := start(t, Config{Revoked: true})
	if a := sb.create(t, validBody, ""); a.status != http.StatusForbidden || decode[apiError](t, a).Message == "" {
		t.Fatalf("create: status %d, want 403 with a message; body %s", a.status, a.body)
	}
	if a := sb.must(t, http.MethodGet, "/v2/categorization-jobs/00000000-0000-0000-0000-000000000000", "", nil); a.status != http.StatusForbidden {
		t.Fatalf("read: status %d, want 403", a.status)
	}
	if a := sb.must(t, http.MethodPost, "/v2/categorization-jobs", validBody, map[string]string{"Authorization": "Bearer wrong"}); a.status != http.StatusUnauthorized {
		t.Fatalf("wrong token: status %d, want 401 before the revocation", a.status)
	}
	if st := sb.stats(t); st.Revoked != 2 || st.Unauthorized != 1 || st.Created != 0 {
		t.Fatalf("stats %+v", st)
	}
	sb.srv.SetRevoked(false)
	job := sb.createdJob(t, validBody, "")
	sb.srv.SetRevoked(true)
	if a := sb.must(t, http.MethodGet, "/v2/categorization-jobs/"+job.ID, "", nil); a.status != http.StatusForbidden {
		t.Fatalf("read after revoking: status %d, want 403", a.status)
	}
}
