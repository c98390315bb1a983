package service_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/connector/ups"
)

// apiBase is a valid config with the ups and enablenow sections; extra
// lines are appended to each section.
func apiBase(upsExtra, enablenowExtra string) string {
	return `kafka:
  brokers: ["localhost:9092"]
ups:
  api_key: "608"
  client_id: c
  client_secret: s
` + upsExtra + `enablenow:
  token: t
` + enablenowExtra + `sinks:
  - name: segments
    type: ups
    topics: [profiles.segments]
    ups: {collection: rr-segments}
  - name: categorization
    type: enablenow
    topics: [categorization.requests]
`
}

// The settings the references leave open (issue 10) have the reference's
// reading by default, and every value that cannot work is named.
func TestAPISettingsOfTheSilentRules(t *testing.T) {
	cases := []struct {
		name            string
		upsExtra, enExt string
		want            []string // keys reported; none: valid
	}{
		{name: "defaults"},
		{name: "query-string tokens", upsExtra: "  token_style: query\n"},
		{name: "token style unknown", upsExtra: "  token_style: header\n", want: []string{"ups.token_style"}},
		{name: "paths overridden", upsExtra: "  paths: {enrich: /gw/attributes/api/v1/{apiKey}/{collection}, status: /gw/status/{jobId}, token: /gw/t, status_token: /gw/st}\n"},
		// One client serves the four collections, and follows every job.
		{name: "paths without their placeholders", upsExtra: "  paths: {enrich: /attributes/api/v1/608/rr-segments, status: /status}\n",
			want: []string{"ups.paths.enrich", "ups.paths.status"}},
		{name: "relative token path", upsExtra: "  paths: {token: oauth2/token}\n", want: []string{"ups.paths.token"}},
		{name: "ups words", upsExtra: "  completed_statuses: [COMPLETED, PROCESSED]\n  failed_statuses: [FAILED, BROKEN]\n"},
		// A word in both lists would both end a job well and send it again.
		{name: "ups word in both lists", upsExtra: "  completed_statuses: [DONE]\n  failed_statuses: [FAILED, done]\n", want: []string{"ups.failed_statuses[1]"}},
		{name: "ups empty word", upsExtra: "  completed_statuses: [\"\"]\n", want: []string{"ups.completed_statuses[0]"}},
		{name: "enablenow words", enExt: "  terminal_statuses: [Done, Broken]\n  completed_statuses: [Done]\n  failed_statuses: [Broken]\n"},
		{name: "enablenow word in both lists", enExt: "  completed_statuses: [Done]\n  failed_statuses: [done]\n", want: []string{"enablenow.failed_statuses[0]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(apiBase(tc.upsExtra, tc.enExt)), noEnv)
			var got []string
			for _, e := range flatten(err) {
				var fe *config.FieldError
				if errors.As(e, &fe) {
					got = append(got, fe.Key)
				}
			}
			slices.Sort(got)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("reported %v (%v), want %v", got, err, tc.want)
			}
		})
	}

	c := parseConfig(t, apiBase("", ""))
	u := config.SectionOf[service.UPSConfig](c, "ups")
	opts := u.Options()
	if opts.TokenStyle != ups.TokenStyleForm || opts.Paths != ups.DefaultPaths() ||
		!slices.Equal(opts.Statuses.Failed, ups.DefaultStatusWords().Failed) || !slices.Contains(opts.Statuses.Completed, "COMPLETED") {
		t.Fatalf("ups defaults %+v", opts)
	}
	en := config.SectionOf[service.EnableNowConfig](c, "enablenow").Options()
	if !slices.Equal(en.CompletedStatuses, []string{"Completed"}) || !slices.Equal(en.FailedStatuses, []string{"Failed", "Cancelled"}) {
		t.Fatalf("enablenow defaults %+v", en)
	}
}

// flatten unwraps joined errors into their leaves.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	if u := errors.Unwrap(err); u != nil {
		if inner := flatten(u); len(inner) > 1 {
			return inner
		}
	}
	return []error{err}
}
