package schemas

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"
)

func TestIsUUID(t *testing.T) {
	cases := []struct {
		s    string
		want bool
	}{
		{"87d8e330-2878-4742-a86f-dbbb3bf522ac", true},
		// Upper case is a uuid too.
		{"87D8E330-2878-4742-A86F-DBBB3BF522AC", true},
		// Version bits are not checked (the reference's ids are not v4).
		{"af86536d-34e3-4ebc-6c64-08db56ccef25", true},
		{"87d8e330287847428a6fdbbb3bf522ac", false},
		{"{87d8e330-2878-4742-a86f-dbbb3bf522ac}", false},
		{"87d8e330-2878-4742-a86f-dbbb3bf522ag", false},
		{"87d8e330-2878-4742-a86f_dbbb3bf522ac", false},
		{"", false},
	}
	for _, tc := range cases {
		if got := isUUID(tc.s); got != tc.want {
			t.Errorf("isUUID(%q) = %v", tc.s, got)
		}
		checkFormatAgreement(t, "event#uuid", tc.s, tc.want)
	}
}

func TestParseDateTime(t *testing.T) {
	type dateCase struct {
		s    string
		want time.Time // zero: invalid (year 0 is not the zero Time)
	}
	cases := []dateCase{
		{"2019-08-24T14:15:22Z", time.Date(2019, 8, 24, 14, 15, 22, 0, time.UTC)},
		{"2019-08-24t14:15:22z", time.Date(2019, 8, 24, 14, 15, 22, 0, time.UTC)},
		{"2019-08-24T14:15:22.123+02:00", time.Date(2019, 8, 24, 12, 15, 22, 123e6, time.UTC)},
		// Digits below a nanosecond are dropped.
		{"2019-08-24T14:15:22.1234567899-00:30", time.Date(2019, 8, 24, 14, 45, 22, 123456789, time.UTC)},
		{"0000-01-01T00:00:00Z", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"2024-02-29T00:00:00Z", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
	}
	// Invalid: impossible dates and times, and shapes RFC 3339 does not allow.
	for _, s := range []string{
		"2023-02-29T00:00:00Z",
		"2024-04-31T00:00:00Z",
		"2024-13-01T00:00:00Z",
		"2024-00-01T00:00:00Z",
		"2024-01-00T00:00:00Z",
		"2024-01-01T00:60:00Z",
		"2024-01-01T23:59:60Z",
		"2024-01-01T00:00:00+23:60",
		"2024-01-01T00:00:00+0100",
		"2024-01-01T+1:00:00Z",
		"2024-01-01T00:00:00 Z",
		"2024-01-01 00:00:00Z",
		"２０２４-01-01T00:00:00Z",
	} {
		cases = append(cases, dateCase{s: s})
	}
	for _, tc := range cases {
		d, ok := parseDateTime(tc.s)
		if ok != !tc.want.IsZero() {
			t.Errorf("parseDateTime(%q) ok = %v", tc.s, ok)
			continue
		}
		if ok && !d.time().Equal(tc.want) {
			t.Errorf("parseDateTime(%q) = %v, want %v", tc.s, d.time(), tc.want)
		}
		checkFormatAgreement(t, "event#dateTime", tc.s, ok)
	}
}

// checkFormatAgreement compares a Go format check with the schema's own.
func checkFormatAgreement(tb testing.TB, schema, s string, goOK bool) {
	tb.Helper()
	inst, err := json.Marshal(s)
	if err != nil {
		tb.Fatal(err)
	}
	accepted, schemaErr := schemaAccepts(tb, schema, inst)
	if accepted != goOK {
		tb.Errorf("%q: Go says %v, JSON Schema %s says %v: %v", s, goOK, schema, accepted, schemaErr)
	}
}

func FuzzFormatsAgreeWithSchema(f *testing.F) {
	for _, s := range []string{"2019-08-24T14:15:22Z", "2024-02-29t23:59:59.5-23:59", "87d8e330-2878-4742-a86f-dbbb3bf522ac"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			// JSON carries only valid UTF-8 after decoding.
			return
		}
		_, ok := parseDateTime(s)
		checkFormatAgreement(t, "event#dateTime", s, ok)
		checkFormatAgreement(t, "event#uuid", s, isUUID(s))
	})
}

func TestParseJSONInteger(t *testing.T) {
	cases := []struct {
		raw  string
		want jsonInteger
	}{
		{"0", jsonInteger{0, true, true}},
		{"-0.0e7", jsonInteger{0, true, true}},
		{"42", jsonInteger{42, true, true}},
		{"4.2e1", jsonInteger{42, true, true}},
		{"4200e-2", jsonInteger{42, true, true}},
		{"0.5", jsonInteger{0, false, false}},
		{"1e-999999999999", jsonInteger{0, false, false}},
		{"-1", jsonInteger{0, true, false}},
		{"9223372036854775807", jsonInteger{9223372036854775807, true, true}},
		{"9223372036854775808", jsonInteger{0, true, false}},
		{"92233720368547758070e-1", jsonInteger{9223372036854775807, true, true}},
		{"9999999999999999999", jsonInteger{0, true, false}},
		{"1e999999999999", jsonInteger{0, true, false}},
		{"00000000000000000000000000000000000001", jsonInteger{1, true, true}},
	}
	for _, tc := range cases {
		if got := parseJSONInteger([]byte(tc.raw)); got != tc.want {
			t.Errorf("parseJSONInteger(%s) = %+v, want %+v", tc.raw, got, tc.want)
		}
	}
}

func TestMemberPath(t *testing.T) {
	cases := []struct{ name, want string }{
		{"fav_color", "$.fav_color"},
		{"städte", "$.städte"},
		{"a1", "$.a1"},
		{"1a", "$['1a']"},
		{"Non-CardHolder", "$['Non-CardHolder']"},
		{"", "$['']"},
		{"it's", `$['it\'s']`},
		{"a\nb", `$['a\u000ab']`},
	}
	for _, tc := range cases {
		if got := memberPath("$", tc.name); got != tc.want {
			t.Errorf("memberPath(%q) = %s, want %s", tc.name, got, tc.want)
		}
	}
}
