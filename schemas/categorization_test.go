package schemas

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

func TestDecodeCategorizationRequestRules(t *testing.T) {
	const u = `"userId": "af86536d-34e3-4ebc-6c64-08db56ccef25"`
	cases := []messageCase{
		// The subject alone; everything else defaults.
		{name: "subject only", json: `{` + u + `}`},
		// Ids are not required to be uuids: the reference only shows examples.
		{name: "consentId free text", json: `{"consentId": "c-1"}`},
		// One account is enough.
		{name: "one account", json: `{"accountIds": ["a"]}`},
		// metaData: every empty value of every type is empty...
		{name: "metaData null", json: `{` + u + `, "metaData": null}`},
		{name: "metaData empty object", json: `{` + u + `, "metaData": { }}`},
		{name: "metaData empty array", json: `{` + u + `, "metaData": [ ]}`},
		{name: "metaData empty string", json: `{` + u + `, "metaData": ""}`},
		// ...and nothing else is.
		{name: "metaData zero", json: `{` + u + `, "metaData": 0}`, want: []string{"$.metaData"}},
		{name: "metaData false", json: `{` + u + `, "metaData": false}`, want: []string{"$.metaData"}},
		{name: "metaData space", json: `{` + u + `, "metaData": " "}`, want: []string{"$.metaData"}},
		{name: "metaData array of null", json: `{` + u + `, "metaData": [null]}`, want: []string{"$.metaData"}},
		// Present but empty strings are not absent.
		{name: "engine empty", json: `{` + u + `, "engine": ""}`, want: []string{"$.engine"}},
		{name: "userId empty", json: `{"userId": ""}`, want: []string{"$.userId"}},
		// Values are case-sensitive: E1 is another engine, forwarded with
		// its own fields (issue 10: other engines are not refused).
		{name: "engine upper", json: `{` + u + `, "engine": "E1", "profile": "Retail"}`},
		{name: "other engine, own fields", json: `{"engine": "e2", "profile": "x", "countryCode": "be", "metaData": {"a": 1}, "extra": true}`},
		{name: "other engine, duplicate member", json: `{"engine": "e2", "x": 1, "x": 2}`, want: []string{"$.x"}, goOnly: true},
		{name: "profile upper", json: `{` + u + `, "profile": "Retail"}`, want: []string{"$.profile"}},
		// A wrongly typed member is a violation, and not a subject.
		{name: "engine number", json: `{` + u + `, "engine": 1}`, want: []string{"$.engine"}},
		{name: "userId number", json: `{"userId": 5}`, want: []string{"$", "$.userId"}},
		{name: "accountIds string", json: `{"accountIds": "a"}`, want: []string{"$", "$.accountIds"}},
		// Null subjects read as absent.
		{name: "null subjects", json: `{"consentId": null, "userId": null, "externalUserId": null, "accountIds": null}`, want: []string{"$"}},
		// An empty id still counts as given, so two are too many.
		{name: "empty plus real subject", json: `{"consentId": "", ` + u + `}`, want: []string{"$", "$.consentId"}},
		// All four at once.
		{name: "four subjects", json: `{"consentId": "c", "userId": "u", "externalUserId": "e", "accountIds": ["a"]}`, want: []string{"$"}},
		// Duplicates.
		{name: "duplicate engine", json: `{` + u + `, "engine": "e1", "engine": "e1"}`, want: []string{"$.engine"}, goOnly: true},
		// Several broken rules are all reported.
		{name: "everything wrong", json: `{"engine": "", "profile": "x", "countryCode": "be", "metaData": {"a": 1}, "extra": true}`,
			want: []string{"$", "$.countryCode", "$.engine", "$.extra", "$.metaData", "$.profile"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkMessage(t, categorizationSchema, []byte(tc.json), tc.want, tc.goOnly)
		})
	}
}

// The rule texts are part of the contract: they name the broken rule for
// whoever reads the dead letter.
func TestCategorizationRuleTexts(t *testing.T) {
	_, err := DecodeCategorizationRequest([]byte(`{"engine": "", "profile": "x", "userId": "u"}`))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v", err)
	}
	want := []Violation{
		{Path: "$.engine", Rule: "engine must be e1 or another engine's name"},
		{Path: "$.profile", Rule: "for engine e1 the only profile is retail"},
	}
	if !slices.Equal(ve.Violations, want) {
		t.Errorf("violations %+v, want %+v", ve.Violations, want)
	}
}

func TestDecodeCategorizationRequestDefaults(t *testing.T) {
	r, err := DecodeCategorizationRequest([]byte(`{"engine": null, "externalUserId": "user_12345"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := CategorizationRequest{Engine: "e1", Profile: "retail", CountryCode: "nl", ExternalUserID: "user_12345"}
	if r.Engine != want.Engine || r.Profile != want.Profile || r.CountryCode != want.CountryCode ||
		r.ExternalUserID != want.ExternalUserID || r.MetaData != nil {
		t.Errorf("decoded %+v, want %+v", r, want)
	}
	// What is sent states the defaults instead of relying on EnableNow's.
	b, _ := json.Marshal(r)
	if string(b) != `{"engine":"e1","profile":"retail","countryCode":"nl","externalUserId":"user_12345"}` {
		t.Errorf("marshaled %s", b)
	}
}

func TestCategorizationRequestValidate(t *testing.T) {
	cases := []struct {
		name string
		req  CategorizationRequest
		want []string
	}{
		// Empty engine, profile and countryCode are omitted and default.
		{name: "defaults omitted", req: CategorizationRequest{UserID: "u"}},
		{name: "all set", req: CategorizationRequest{Engine: "e1", Profile: "retail", CountryCode: "nl", AccountIDs: []string{"a", "b"}}},
		// An empty AccountIDs is omitted: no subject.
		{name: "empty accounts", req: CategorizationRequest{AccountIDs: []string{}}, want: []string{"$"}},
		{name: "empty account id", req: CategorizationRequest{AccountIDs: []string{"a", ""}}, want: []string{"$.accountIds[1]"}},
		{name: "two subjects", req: CategorizationRequest{UserID: "u", ConsentID: "c"}, want: []string{"$"}},
		// Another engine's fields are its own (issue 10).
		{name: "other engine", req: CategorizationRequest{UserID: "u", Engine: "e2", Profile: "x"}},
		{name: "metaData set", req: CategorizationRequest{UserID: "u", MetaData: json.RawMessage(`{"a": 1}`)}, want: []string{"$.metaData"}},
		{name: "metaData empty", req: CategorizationRequest{UserID: "u", MetaData: json.RawMessage(`{}`)}},
		{name: "metaData not JSON", req: CategorizationRequest{UserID: "u", MetaData: json.RawMessage(`{`)}, want: []string{"$.metaData"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkValidate(t, categorizationSchema, &tc.req, tc.want)
		})
	}
}
