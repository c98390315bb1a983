package enablenow

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/contactlab/connector/schemas"
)

// Every rule of the reference, broken once: the stand-in must refuse the
// request with 400 and name the rule, so a connector bug shows up as the
// rule it broke rather than as "bad request".
func TestCreateRejectsEachRule(t *testing.T) {
	cases := []struct {
		name string
		body string
		// mentions: at least one of these must appear in a reported path
		// or rule, so the answer points at what is wrong.
		mentions []string
	}{
		{"no subject", `{"engine":"e1","profile":"retail","countryCode":"nl"}`, []string{"consentId"}},
		{"empty body object", `{}`, []string{"consentId"}},
		{"consentId and userId", `{"consentId":"c1","userId":"u1"}`, []string{"consentId", "userId"}},
		{"userId and externalUserId", `{"userId":"u1","externalUserId":"x1"}`, []string{"userId", "externalUserId"}},
		{"externalUserId and accountIds", `{"externalUserId":"x1","accountIds":["a1"]}`, []string{"externalUserId", "accountIds"}},
		{"consentId and accountIds", `{"consentId":"c1","accountIds":["a1"]}`, []string{"consentId", "accountIds"}},
		{"all four", `{"consentId":"c1","userId":"u1","externalUserId":"x1","accountIds":["a1"]}`, []string{"consentId"}},
		{"empty accountIds", `{"accountIds":[]}`, []string{"accountIds"}},
		{"e1 with another profile", `{"engine":"e1","profile":"travel","consentId":"c1"}`, []string{"profile"}},
		{"defaulted e1 with another profile", `{"profile":"travel","consentId":"c1"}`, []string{"profile"}},
		{"metaData not empty", `{"consentId":"c1","metaData":{"k":"v"}}`, []string{"metaData"}},
		{"country other than nl", `{"consentId":"c1","countryCode":"be"}`, []string{"countryCode"}},
		{"defaults spelled out, country wrong", `{"engine":"e1","profile":"retail","countryCode":"de","userId":"u1"}`, []string{"countryCode"}},
		{"engine other than e1", `{"engine":"e2","consentId":"c1"}`, []string{"engine"}},
		{"engine not a string", `{"engine":1,"consentId":"c1"}`, []string{"engine"}},
		{"empty consentId", `{"consentId":""}`, []string{"consentId"}},
		{"empty account id", `{"accountIds":["a1",""]}`, []string{"accountIds"}},
		{"accountIds not an array", `{"accountIds":"a1"}`, []string{"accountIds"}},
		// A typo in a member name must not be dropped silently: the request
		// would then mean something else than its sender thinks.
		{"unknown member", `{"consentId":"c1","consentID":"c2"}`, []string{"consentID"}},
		{"repeated member", `{"consentId":"c1","consentId":"c2"}`, []string{"consentId"}},
		{"not JSON", `{"consentId":`, []string{"$"}},
		{"JSON but not an object", `["consentId"]`, []string{"object"}},
		{"empty body", ``, []string{"$"}},
	}
	// Serving e1 only, as an API whose other engines are not open to this
	// client would: by default another engine is taken (TestOtherEngines).
	sb := start(t, Config{Engines: []string{"e1"}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := sb.create(t, tc.body, "")
			if a.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", a.status, a.body)
			}
			t.Logf("answer: %s", a.body)
			got := decode[apiError](t, a)
			if got.Message == "" || len(got.Errors) == 0 {
				t.Fatalf("answer %s: want a message and at least one error", a.body)
			}
			// The stand-in's rules are its own reading of the reference,
			// worded its own way; where the connector's decoder refuses a
			// request, the stand-in must refuse it too (the converse is what
			// a witness is for: see TestRefusesWhatTheConnectorWouldSend).
			if _, err := schemas.DecodeCategorizationRequest([]byte(tc.body)); err == nil && tc.name != "engine other than e1" {
				t.Errorf("the connector takes %s, which the stand-in refuses", tc.body)
			}
			if len(tc.mentions) > 0 && !mentionsAny(got.Errors, tc.mentions) {
				t.Errorf("errors %+v mention none of %q", got.Errors, tc.mentions)
			}
		})
	}
	st := sb.srv.Stats()
	if st.Created != 0 || st.Rejected != int64(len(cases)) {
		t.Errorf("stats created=%d rejected=%d, want 0 and %d", st.Created, st.Rejected, len(cases))
	}
}

func mentionsAny(errs []fieldError, words []string) bool {
	for _, e := range errs {
		text := strings.ToLower(e.Path + " " + e.Message)
		for _, w := range words {
			if strings.Contains(text, strings.ToLower(w)) {
				return true
			}
		}
	}
	return false
}

// Each of the four ways the reference names whom to categorize creates a
// job, and the answer shows the defaults applied to what was left out.
func TestCreateAcceptsEachSubject(t *testing.T) {
	cases := []struct {
		name string
		body string
		want jobResource
	}{
		{"consentId, as in the reference",
			`{"engine":"e1","profile":"retail","countryCode":"nl","consentId":"af86536d-34e3-4ebc-6c64-08db56ccef25"}`,
			jobResource{ConsentID: "af86536d-34e3-4ebc-6c64-08db56ccef25"}},
		{"userId, defaults left out", `{"userId":"af86536d-34e3-4ebc-6c64-08db56ccef25"}`,
			jobResource{UserID: "af86536d-34e3-4ebc-6c64-08db56ccef25"}},
		{"externalUserId, country left out", `{"engine":"e1","profile":"retail","externalUserId":"user_12345"}`,
			jobResource{ExternalUserID: "user_12345"}},
		{"several accountIds", `{"countryCode":"nl","accountIds":["a1","a2"]}`,
			jobResource{AccountIDs: []string{"a1", "a2"}}},
		// Producers that write every member, null or empty, mean nothing by it.
		{"other subjects null, metaData empty", `{"consentId":"c1","userId":null,"accountIds":null,"metaData":{}}`,
			jobResource{ConsentID: "c1"}},
		{"metaData null", `{"externalUserId":"x1","metaData":null}`, jobResource{ExternalUserID: "x1"}},
	}
	sb := start(t, Config{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := sb.createdJob(t, tc.body, "")
			want := tc.want
			want.ID, want.CreatedAt = got.ID, got.CreatedAt
			want.Status, want.Engine, want.Profile, want.CountryCode = "Queued", "e1", "retail", "nl"
			if !reflect.DeepEqual(got, want) {
				t.Errorf("created %+v, want %+v", got, want)
			}
			if got.ID == "" || got.CreatedAt.IsZero() {
				t.Errorf("created %+v without id or createdAt", got)
			}
		})
	}
}
