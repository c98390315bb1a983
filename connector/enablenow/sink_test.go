package enablenow_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/enablenow"
	standin "github.com/contactlab/connector/connector/sandbox/enablenow"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// The rule texts are the contract with whoever reads a dead letter (package
// schemas pins them too): each case names the rules its request breaks.
const (
	ruleEngine      = "engine must be e1"
	ruleProfile     = "for engine e1 the only profile is retail"
	ruleCountry     = "for engine e1 the only countryCode is nl"
	ruleMetaData    = "for engine e1 metaData must be empty"
	ruleNoSubject   = "exactly one of consentId, userId, externalUserId and accountIds is required, none given"
	ruleTwoSubjects = "exactly one of consentId, userId, externalUserId and accountIds is required, several given"
	ruleAccountIDs  = "must be an array of one or more non-empty strings"
	ruleNonEmpty    = "must be a non-empty string"
	ruleUnknown     = "is not a known field"
	ruleDuplicate   = "duplicate member name"
	// I-JSON (RFC 7493, issue 11).
	ruleUTF8          = "string must be valid UTF-8"
	ruleSurrogate     = "string must not hold an unpaired surrogate escape"
	ruleNameSurrogate = "member name must not hold an unpaired surrogate escape"
	ruleNumberRange   = "number must be within the range of an IEEE 754 double"
)

// Every rule of the reference, through the sink: the request is rejected as
// "invalid" with the rule it breaks, and EnableNow never hears of it.
func TestSinkRejectsEachRuleBeforeAnyCall(t *testing.T) {
	const u = `"userId":"af86536d-34e3-4ebc-6c64-08db56ccef25"`
	cases := []struct {
		name, value string
		rules       []string // each must appear in the error, with its path
	}{
		// Another engine (e2, or E1: values are case-sensitive) is not
		// refused: TestSinkForwardsOtherEngines (issue 10).
		// Present but empty is not absent: no default applies.
		{"engine empty", `{"engine":"",` + u + `}`, []string{"$.engine: " + ruleEngine}},
		{"profile other than retail", `{"profile":"business",` + u + `}`, []string{"$.profile: " + ruleProfile}},
		{"country other than nl", `{"countryCode":"be",` + u + `}`, []string{"$.countryCode: " + ruleCountry}},
		{"country in capitals", `{"countryCode":"NL",` + u + `}`, []string{"$.countryCode: " + ruleCountry}},
		{"metaData with a member", `{"metaData":{"source":"appscreen"},` + u + `}`, []string{"$.metaData: " + ruleMetaData}},
		{"metaData a string", `{"metaData":"x",` + u + `}`, []string{"$.metaData: " + ruleMetaData}},
		{"metaData an array", `{"metaData":[1],` + u + `}`, []string{"$.metaData: " + ruleMetaData}},
		{"no subject", `{"engine":"e1","profile":"retail","countryCode":"nl"}`, []string{"$: " + ruleNoSubject}},
		{"only null subjects", `{"consentId":null,"userId":null,"externalUserId":null,"accountIds":null}`, []string{"$: " + ruleNoSubject}},
		{"consent and user", `{"consentId":"c-1",` + u + `}`, []string{"$: " + ruleTwoSubjects}},
		{"user and external user", `{"externalUserId":"user_12345",` + u + `}`, []string{"$: " + ruleTwoSubjects}},
		{"external user and accounts", `{"externalUserId":"user_12345","accountIds":["a"]}`, []string{"$: " + ruleTwoSubjects}},
		{"all four subjects", `{"consentId":"c","userId":"u","externalUserId":"e","accountIds":["a"]}`, []string{"$: " + ruleTwoSubjects}},
		{"accountIds empty", `{"accountIds":[]}`, []string{"$.accountIds: " + ruleAccountIDs}},
		{"accountIds a string", `{"accountIds":"a"}`, []string{"$.accountIds: " + ruleAccountIDs}},
		{"account id empty", `{"accountIds":["a",""]}`, []string{"$.accountIds[1]: " + ruleNonEmpty}},
		{"userId empty", `{"userId":""}`, []string{"$.userId: " + ruleNonEmpty}},
		{"consentId a number", `{"consentId":5}`, []string{"$.consentId: " + ruleNonEmpty}},
		{"unknown field", `{"locale":"nl-NL",` + u + `}`, []string{"$.locale: " + ruleUnknown}},
		{"duplicate member", `{"engine":"e1","engine":"e1",` + u + `}`, []string{"$.engine: " + ruleDuplicate}},
		{"every rule at once", `{"engine":"","profile":"x","countryCode":"be","metaData":{"a":1}}`,
			[]string{"$.engine: " + ruleEngine, "$.profile: " + ruleProfile, "$.countryCode: " + ruleCountry, "$.metaData: " + ruleMetaData, "$: " + ruleNoSubject}},
		// Not I-JSON (RFC 7493): the request is sent as it came, so
		// EnableNow would read what this connector did not check.
		{"userId invalid UTF-8", `{"userId":"u` + "\xc3" + `"}`, []string{"$.userId: " + ruleUTF8}},
		{"account id lone surrogate", `{"accountIds":["a","\ud800"]}`, []string{"$.accountIds[1]: " + ruleSurrogate}},
		{"metaData number out of range", `{"metaData":{"n":-1e400},` + u + `}`, []string{"$.metaData: " + ruleMetaData, "$.metaData.n: " + ruleNumberRange}},
		{"name lone surrogate", `{"\udc00":1,` + u + `}`, []string{"$.\uFFFD: " + ruleNameSurrogate, "$.\uFFFD: " + ruleUnknown}},
		{"duplicate escaped", `{"userId":"a","\u0075serId":"b"}`, []string{"$.userId: " + ruleDuplicate}},
		// Another engine's request is forwarded as it came: it is checked
		// for I-JSON all the way down.
		{"other engine, duplicate at depth 3", `{"engine":"e2","a":{"b":{"c":1,"c":2}},` + u + `}`, []string{"$.a.b.c: " + ruleDuplicate}},
		{"other engine, number out of range", `{"engine":"e2","scores":[1,2,1e999]}`, []string{"$.scores[2]: " + ruleNumberRange}},
		{"not JSON", `{"consentId":"c-1"`, []string{"$: "}},
		{"not an object", `["consentId"]`, []string{"$: must be a JSON object"}},
		{"empty value (a tombstone)", ``, []string{"$: "}},
	}
	a := startAPI(t, standin.Config{})
	sink, res := unmonitoredSink(a)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := write(t, sink, record("k", tc.value))
			var re *streams.RejectError
			if !errors.Is(err, streams.ErrRejected) || !errors.As(err, &re) || re.Reason != "invalid" {
				t.Fatalf("want a rejection with reason invalid, got %v", err)
			}
			var ve *schemas.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("the rejection does not carry the *schemas.ValidationError: %v", err)
			}
			for _, rule := range tc.rules {
				if !strings.Contains(err.Error(), rule) {
					t.Errorf("error %q does not name %q", err, rule)
				}
			}
		})
	}
	if n := a.calls.Load(); n != 0 {
		t.Fatalf("%d API calls for invalid requests, want none", n)
	}
	if n := len(res.all()); n != 0 {
		t.Fatalf("%d results published for invalid requests, want none", n)
	}
}

// Each of the four ways of naming the subject creates one job, with the
// defaults spelled out in what is sent.
func TestSinkCreatesOneJobPerRequest(t *testing.T) {
	cases := []struct{ name, value, sent string }{
		{"consent", `{"consentId":"af86536d-34e3-4ebc-6c64-08db56ccef25"}`,
			`{"engine":"e1","profile":"retail","countryCode":"nl","consentId":"af86536d-34e3-4ebc-6c64-08db56ccef25"}`},
		{"user", `{"engine":"e1","profile":"retail","countryCode":"nl","userId":"u-1"}`,
			`{"engine":"e1","profile":"retail","countryCode":"nl","userId":"u-1"}`},
		{"external user", `{"externalUserId":"user_12345","engine":null,"metaData":null}`,
			`{"engine":"e1","profile":"retail","countryCode":"nl","externalUserId":"user_12345"}`},
		{"accounts", `{"accountIds":["a-1","a-2"],"countryCode":"nl"}`,
			`{"engine":"e1","profile":"retail","countryCode":"nl","accountIds":["a-1","a-2"]}`},
		{"empty metaData", `{"userId":"u-2","metaData":{}}`,
			`{"engine":"e1","profile":"retail","countryCode":"nl","userId":"u-2","metaData":{}}`},
	}
	a := startAPI(t, standin.Config{})
	sink, res := unmonitoredSink(a)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := record("key-"+tc.name, tc.value)
			if err := write(t, sink, r); err != nil {
				t.Fatal(err)
			}
			key := enablenow.RecordIdempotencyKey(r)
			if n := a.srv.JobsFor(key); n != 1 {
				t.Fatalf("JobsFor(key) = %d, want 1", n)
			}
			if got := a.createBodies()[i]; got != tc.sent {
				t.Errorf("sent %s\nwant %s", got, tc.sent)
			}
			got := res.all()[i]
			if got.JobID == "" || got.Status != "Queued" || got.Terminal || !got.Final || got.Replayed ||
				string(got.RequestKey) != "key-"+tc.name || got.IdempotencyKey != key ||
				got.Source != (enablenow.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}) {
				t.Errorf("result %+v", got)
			}
		})
	}
}

// A record delivered again (a retry, a redelivery after a crash) reuses its
// key: the API answers with the first job, and says it is a replay.
func TestSinkRedeliveryReusesTheJob(t *testing.T) {
	a := startAPI(t, standin.Config{})
	sink, res := unmonitoredSink(a)
	r := record("u-1", `{"userId":"u-1"}`)
	for range 3 {
		if err := write(t, sink, r); err != nil {
			t.Fatal(err)
		}
	}
	// An equal request in another record is another request: another job.
	twin := record("u-1", `{"userId":"u-1"}`)
	if err := write(t, sink, twin); err != nil {
		t.Fatal(err)
	}
	if n := a.srv.JobsFor(enablenow.RecordIdempotencyKey(r)); n != 1 {
		t.Fatalf("JobsFor = %d after three deliveries, want 1", n)
	}
	if n := a.srv.JobsFor(enablenow.RecordIdempotencyKey(twin)); n != 1 {
		t.Fatalf("JobsFor(twin) = %d, want 1", n)
	}
	got := res.all()
	if got[0].Replayed || !got[1].Replayed || !got[2].Replayed || got[1].JobID != got[0].JobID || got[2].JobID != got[0].JobID {
		t.Fatalf("results %+v: want one job, replayed after the first", got)
	}
	if got[3].JobID == got[0].JobID || got[3].Replayed {
		t.Fatalf("the twin record got the first record's job: %+v", got[3])
	}
}

// The one failure where the client cannot know whether the job exists: the
// connection is reset after the job was created. The error must be
// retryable, and the retry must find the job instead of making another.
func TestSinkResetAfterCreateRetriesIntoTheSameJob(t *testing.T) {
	a := startAPI(t, standin.Config{ResetAfterCreateShare: 1})
	sink, res := unmonitoredSink(a)
	r := record("c-1", `{"consentId":"c-1"}`)
	err := write(t, sink, r)
	if err == nil || errors.Is(err, streams.ErrRejected) || errors.Is(err, streams.ErrUnauthorized) {
		t.Fatalf("want a retryable error, got %v", err)
	}
	if a.srv.Stats().ResetsAfterCreate != 1 {
		t.Fatalf("the fault did not strike: %+v", a.srv.Stats())
	}
	if len(res.all()) != 0 {
		t.Fatal("a result was published for an unanswered creation")
	}
	if err := write(t, sink, r); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := a.srv.JobsFor(enablenow.RecordIdempotencyKey(r)); n != 1 {
		t.Fatalf("JobsFor = %d, want 1", n)
	}
	if got := res.all(); len(got) != 1 || !got[0].Replayed {
		t.Fatalf("results %+v, want one replayed", got)
	}
}

// When the result cannot be stored the record is retried; the retry is a
// replay, so the job is not created twice.
func TestSinkPublishFailureIsRetriedWithoutASecondJob(t *testing.T) {
	a := startAPI(t, standin.Config{})
	sink, res := unmonitoredSink(a)
	res.failNext.Store(1)
	r := record("c-2", `{"consentId":"c-2"}`)
	err := write(t, sink, r)
	if !errors.Is(err, errKafkaDown) || errors.Is(err, streams.ErrRejected) {
		t.Fatalf("want the retryable publish failure, got %v", err)
	}
	if err := write(t, sink, r); err != nil {
		t.Fatal(err)
	}
	if n := a.srv.JobsFor(enablenow.RecordIdempotencyKey(r)); n != 1 {
		t.Fatalf("JobsFor = %d, want 1", n)
	}
}

// Answers are classified by package httpapi alone; the sink passes them on
// so the runtime retries, pauses or dead-letters.
func TestSinkPassesOnTheAPIClassification(t *testing.T) {
	cases := []struct {
		name                   string
		faults                 fault.Settings
		token                  string
		rejected, unauthorized bool
		minRetryAfter          time.Duration
	}{
		{name: "server error is retryable", faults: fault.Settings{ServerErrorShare: 1}},
		{name: "throttled is retryable after the hint", faults: fault.Settings{ThrottleShare: 1, RetryAfter: fault.Duration(2 * time.Second)}, minRetryAfter: 2 * time.Second},
		{name: "reset is retryable", faults: fault.Settings{ResetShare: 1}},
		{name: "401 window pauses", faults: fault.Settings{UnauthorizedFor: fault.Duration(time.Hour)}, unauthorized: true},
		{name: "wrong token pauses", token: "wrong", unauthorized: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := startAPI(t, standin.Config{Faults: tc.faults})
			client := newClient(a.url, func(c *service.EnableNowConfig) {
				if tc.token != "" {
					c.Token = config.NewSecret(tc.token)
				}
			})
			sink := enablenow.NewCategorizationSink(client, &memResults{}, nil, nil, nil)
			err := write(t, sink, record("k", `{"userId":"u"}`))
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, streams.ErrRejected) != tc.rejected || errors.Is(err, streams.ErrUnauthorized) != tc.unauthorized {
				t.Fatalf("rejected=%v unauthorized=%v for %v", errors.Is(err, streams.ErrRejected), errors.Is(err, streams.ErrUnauthorized), err)
			}
			var rd interface{ RetryDelay() time.Duration }
			if tc.minRetryAfter > 0 && (!errors.As(err, &rd) || rd.RetryDelay() < tc.minRetryAfter) {
				t.Fatalf("Retry-After lost: %v", err)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Fatalf("error shows the token: %v", err)
			}
			if a.srv.Stats().Created != 0 {
				t.Fatal("a job was created under a fault that strikes first")
			}
		})
	}
}

// A 4xx the API gives for the request itself (here, a key reused with
// another request) dead-letters the record with the API's explanation.
func TestSinkRejectsWhatTheAPIRefuses(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte(`{"message":"Idempotency-Key was already used with a different request","errors":[{"path":"Idempotency-Key","message":"reused with a different request"}]}`))
	}))
	defer ts.Close()
	sink := enablenow.NewCategorizationSink(newClient(ts.URL, nil), &memResults{}, nil, nil, nil)
	r := record("k", `{"userId":"u"}`)
	err := write(t, sink, r)
	if !errors.Is(err, streams.ErrRejected) || !strings.Contains(err.Error(), "reused with a different request") {
		t.Fatalf("want a rejection with the API's reason, got %v", err)
	}
	// The error locates the record for logs and dead-letter headers.
	if !strings.Contains(err.Error(), "categorization.requests/1@") {
		t.Fatalf("error does not locate the record: %v", err)
	}
}

// One batch, per-record outcomes: the runtime acks the good ones and
// dead-letters the bad one.
func TestSinkBatchHasPerRecordOutcomes(t *testing.T) {
	a := startAPI(t, standin.Config{})
	sink, _ := unmonitoredSink(a)
	batch := []*streams.Record{record("a", `{"userId":"a"}`), record("b", `{"userId":"b","profile":"business"}`), record("c", `{"userId":"c"}`)}
	errs := writeBatch(t, t.Context(), sink, batch...)
	if len(errs) != 3 || errs[0] != nil || errs[2] != nil || !errors.Is(errs[1], streams.ErrRejected) {
		t.Fatalf("want only the second record rejected, got %v", errs)
	}
	if st := a.srv.Stats(); st.Created != 2 || st.Rejected != 0 {
		t.Fatalf("stand-in %+v: want 2 jobs and nothing refused", st)
	}
}
