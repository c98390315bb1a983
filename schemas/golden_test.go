package schemas

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// goldenCase is one sample message under testdata/<schema>/. Valid files are
// named valid-*, invalid ones invalid-*.
type goldenCase struct {
	file string
	// want are the violation paths the Go validator must report; none for a
	// valid message.
	want []string
	// goOnly marks a rule JSON Schema cannot express: the schema accepts
	// the message and only the Go validator rejects it.
	goOnly bool
}

var goldenCases = []goldenCase{
	// ---- event
	// The reference's request sample without bringBackProperties.
	{file: "event/valid-customer.json"},
	// An anonymous visitor named by session, no customerId at all.
	{file: "event/valid-bringback-session.json"},
	// Nulls read as absent; uuids in upper case are uuids.
	{file: "event/valid-bringback-external-nulls.json"},
	// A realistic order: nested properties, a leap day, fraction and offset.
	{file: "event/valid-completed-order.json"},
	// Unknown members inside tracking pass; RFC 3339 allows lowercase t and z.
	{file: "event/valid-tracking-open.json"},
	// The reference's own sample sets both identities, which its prose forbids.
	{file: "event/invalid-reference-sample-both-identities.json", want: []string{"$"}},
	// Neither identity: Contacthub cannot attach the event to anyone.
	{file: "event/invalid-no-identity.json", want: []string{"$"}},
	// A GET response posted back: system fields are not part of a create.
	{file: "event/invalid-response-fields.json", want: []string{"$.id", "$.origin", "$.registeredAt", "$.version"}},
	// Member names are case-sensitive, unlike encoding/json's matching.
	{file: "event/invalid-case-variant-name.json", want: []string{"$", "$.CustomerId"}},
	// Enums are exact: no free-form types, no lowercase contexts.
	{file: "event/invalid-type-and-context.json", want: []string{"$.context", "$.type"}},
	// properties and contextInfo must be objects.
	{file: "event/invalid-properties-and-contextinfo.json", want: []string{"$.contextInfo", "$.properties"}},
	// properties is required and null does not count as present for it.
	{file: "event/invalid-null-properties.json", want: []string{"$.properties"}},
	// Every missing required member is reported, not just the first.
	{file: "event/invalid-missing-required.json", want: []string{"$.context", "$.properties", "$.type"}},
	// Each rule of bringBackProperties, all at once.
	{file: "event/invalid-bringback.json", want: []string{"$.bringBackProperties.expires", "$.bringBackProperties.nodeId", "$.bringBackProperties.type", "$.bringBackProperties.value"}},
	// customerId must be a uuid; a wrong one still counts as the identity.
	{file: "event/invalid-customer-id.json", want: []string{"$.customerId"}},
	// 2019 is no leap year: the date is checked, not just its shape.
	{file: "event/invalid-date-out-of-range.json", want: []string{"$.date"}},
	// A space instead of T is ISO 8601 but not RFC 3339.
	{file: "event/invalid-date-not-rfc3339.json", want: []string{"$.date"}},
	// utm_* must be strings.
	{file: "event/invalid-tracking-utm.json", want: []string{"$.tracking.ga.utm_campaign", "$.tracking.ga.utm_source"}},
	// tracking must be an object, not a query string.
	{file: "event/invalid-tracking-not-object.json", want: []string{"$.tracking"}},
	// Duplicates are rejected even when the last value is valid: another
	// parser could keep the first.
	{file: "event/invalid-duplicate-member.json", want: []string{"$.customerId"}, goOnly: true},
	// The top level must be an object.
	{file: "event/invalid-not-object.json", want: []string{"$"}},
	// A truncated message is one violation at "$" with the decoder's message.
	{file: "event/invalid-syntax.json", want: []string{"$"}},

	// ---- ups-rr-userattributes
	// The reference example.
	{file: "ups-rr-userattributes/valid-reference.json"},
	// Any attribute name, empty value lists, non-ASCII values.
	{file: "ups-rr-userattributes/valid-many.json"},
	// Values must be arrays; names with spaces get bracketed paths.
	{file: "ups-rr-userattributes/invalid-not-arrays.json", want: []string{"$.value.fav_color", "$.value['fav color']"}},
	// Every bad item is reported at its index.
	{file: "ups-rr-userattributes/invalid-item.json", want: []string{"$.value.fav_color[1]", "$.value.fav_color[2]"}},
	// userId is mandatory and non-empty.
	{file: "ups-rr-userattributes/invalid-userid.json", want: []string{"$.userId"}},
	// siteId belongs to the request, not to the record.
	{file: "ups-rr-userattributes/invalid-missing.json", want: []string{"$.siteId", "$.userId", "$.value"}},
	// A userlinking value on the attributes topic.
	{file: "ups-rr-userattributes/invalid-value-array.json", want: []string{"$.value"}},
	// A whole request body is not a record.
	{file: "ups-rr-userattributes/invalid-request-body.json", want: []string{"$.data", "$.userId", "$.value"}},
	// Duplicate attribute names inside value are caught too.
	{file: "ups-rr-userattributes/invalid-duplicate-attribute.json", want: []string{"$.value.fav_color", "$.value.fav_color"}, goOnly: true},

	// ---- ups-rr-segments
	// The reference example.
	{file: "ups-rr-segments/valid-reference.json"},
	// No segments at all is a valid (clearing) update.
	{file: "ups-rr-segments/valid-empty.json"},
	// Segment values are single strings, not booleans or lists.
	{file: "ups-rr-segments/invalid-not-strings.json", want: []string{"$.value.Member", "$.value['Non-CardHolder']"}},
	// value is an object of name to value.
	{file: "ups-rr-segments/invalid-value-list.json", want: []string{"$.value"}},
	// userId is a string even when it looks like a number.
	{file: "ups-rr-segments/invalid-userid-number.json", want: []string{"$.userId"}},

	// ---- ups-userlinking
	// The reference example.
	{file: "ups-userlinking/valid-reference.json"},
	// Removing all links.
	{file: "ups-userlinking/valid-empty.json"},
	// Linked ids are non-empty strings.
	{file: "ups-userlinking/invalid-items.json", want: []string{"$.value[1]", "$.value[2]"}},
	// value is a list of ids, not an object.
	{file: "ups-userlinking/invalid-object.json", want: []string{"$.value"}},
	// "type": "grouped" belongs to the request, not to the record.
	{file: "ups-userlinking/invalid-grouped-type.json", want: []string{"$.type"}},

	// ---- ups-rr-userpreferences
	// The reference example, with its "disLike" spelling.
	{file: "ups-rr-userpreferences/valid-reference.json"},
	// Every verb, in several cases.
	{file: "ups-rr-userpreferences/valid-every-verb.json"},
	// Only the four verbs.
	{file: "ups-rr-userpreferences/invalid-verb.json", want: []string{"$.value.love"}},
	// Case folding is ASCII only: the Kelvin sign is not a k.
	{file: "ups-rr-userpreferences/invalid-unicode-fold.json", want: []string{"$.value.li\u212ae"}},
	// Product ids come in arrays of strings.
	{file: "ups-rr-userpreferences/invalid-products.json", want: []string{"$.value.dislike[0]", "$.value.like"}},

	// ---- categorization-request
	// The four ways of naming the subject, as in the reference.
	{file: "categorization-request/valid-consent.json"},
	{file: "categorization-request/valid-user.json"},
	{file: "categorization-request/valid-external-user.json"},
	{file: "categorization-request/valid-accounts.json"},
	// engine, profile and countryCode default.
	{file: "categorization-request/valid-defaults.json"},
	// Nulls read as absent; {} is empty metaData.
	{file: "categorization-request/valid-nulls.json"},
	// Another engine is forwarded with its own fields: the e1 rules are e1's.
	{file: "categorization-request/valid-other-engine.json"},
	// An empty engine names none.
	{file: "categorization-request/invalid-engine.json", want: []string{"$.engine"}},
	// retail is the only profile of e1.
	{file: "categorization-request/invalid-profile.json", want: []string{"$.profile"}},
	// nl is the only country, in lower case.
	{file: "categorization-request/invalid-country.json", want: []string{"$.countryCode"}},
	// Exactly one subject: two are ambiguous.
	{file: "categorization-request/invalid-two-subjects.json", want: []string{"$"}},
	// Exactly one subject: none is nothing to categorize.
	{file: "categorization-request/invalid-no-subject.json", want: []string{"$"}},
	// metaData must be empty for e1.
	{file: "categorization-request/invalid-metadata.json", want: []string{"$.metaData"}},
	// accountIds needs at least one id.
	{file: "categorization-request/invalid-accounts-empty.json", want: []string{"$.accountIds"}},
	// Every account id is a non-empty string.
	{file: "categorization-request/invalid-account-items.json", want: []string{"$.accountIds[1]", "$.accountIds[2]"}},
	// Unknown members are refused, not dropped.
	{file: "categorization-request/invalid-unknown.json", want: []string{"$.jobId"}},

	// ---- update-envelope
	// A customer created, with a node.
	{file: "update-envelope/valid-customer-create.json"},
	// An event of an anonymous customer: no key, still valid.
	{file: "update-envelope/valid-event-anonymous.json"},
	// A delete carries at least the id; offset 0 is a real offset.
	{file: "update-envelope/valid-customer-delete.json"},
	// An update the stream gave no offset: its position in its page.
	{file: "update-envelope/valid-page-position.json"},
	// Only the three stream operations.
	{file: "update-envelope/invalid-operation.json", want: []string{"$.operation"}},
	// offsetSource names one of the two sources.
	{file: "update-envelope/invalid-offset-source.json", want: []string{"$.offsetSource"}},
	// A customer without id cannot be keyed.
	{file: "update-envelope/invalid-customer-without-id.json", want: []string{"$.data.id"}},
	// A zero time.Time: the producer forgot ReadAt.
	{file: "update-envelope/invalid-zero-readat.json", want: []string{"$.readAt"}},
	// Offsets are not negative; workspaceId is not empty.
	{file: "update-envelope/invalid-offset.json", want: []string{"$.offset", "$.workspaceId"}},
	// An event's customerId is a string or null.
	{file: "update-envelope/invalid-event-customer-id.json", want: []string{"$.data.customerId"}},
	// The API's StreamUpdate is not the envelope.
	{file: "update-envelope/invalid-raw-stream-update.json", want: []string{"$.data", "$.entity", "$.entityType", "$.offset", "$.readAt", "$.workspaceId"}},
	// data is an object, not JSON in a string; readAt needs its zone.
	{file: "update-envelope/invalid-data-not-object.json", want: []string{"$.data", "$.nodeId", "$.readAt"}},

	// ---- customer-record
	// The reference's Create customer sample, as a create.
	{file: "customer-record/valid-create-reference.json"},
	// A patch may null what it clears and needs no nodeId.
	{file: "customer-record/valid-patch.json"},
	// A session for a known customer.
	{file: "customer-record/valid-session.json"},
	// Every limit met exactly: characters, not bytes (è is two bytes); tags by their sum.
	{file: "customer-record/valid-limits-exact.json"},
	// Create customer requires the entry node.
	{file: "customer-record/invalid-create-without-node.json", want: []string{"$.customer.nodeId"}},
	// A create names no id: Contacthub gives it, or finds the customer by its unique properties.
	{file: "customer-record/invalid-create-with-customer-id.json", want: []string{"$.customerId"}},
	// nodeId is immutable in a patch.
	{file: "customer-record/invalid-patch-node-id.json", want: []string{"$.customer.nodeId"}},
	// A patch says whom it patches.
	{file: "customer-record/invalid-patch-without-customer-id.json", want: []string{"$.customerId"}},
	// A session carries no customer body, and its value is not empty.
	{file: "customer-record/invalid-session-rules.json", want: []string{"$.customer", "$.session.value"}},
	// One character over each limit, each at its own path, at any depth.
	{file: "customer-record/invalid-lengths.json", want: []string{"$.customer.base.address.city", "$.customer.base.address.street",
		"$.customer.base.contacts.otherContacts[1].value", "$.customer.base.firstName", "$.customer.base.pictureUrl",
		"$.customer.consents.disclaimer.version", "$.customer.externalId", "$.customer.extra"}},
	// tags.auto adds up to 1001 characters, though no tag is long: a sum JSON Schema cannot express.
	{file: "customer-record/invalid-tags-sum.json", want: []string{"$.customer.tags.auto"}, goOnly: true},
	// Over 64 kB though every string is short: a byte count JSON Schema cannot express.
	{file: "customer-record/invalid-too-large.json", want: []string{"$.customer"}, goOnly: true},
	// A GET answer posted back: the properties Contacthub sets cannot be sent.
	{file: "customer-record/invalid-response-fields.json", want: []string{"$.customer.deleted", "$.customer.id", "$.customer.intId",
		"$.customer.registeredAt", "$.customer.sourceInfo", "$.customer.updatedAt", "$.customer.version"}},
	// Only the three operations.
	{file: "customer-record/invalid-operation.json", want: []string{"$.operation"}},
	// Wrong types of the members the reference types; unknown tag lists.
	{file: "customer-record/invalid-types.json", want: []string{"$.customer.base", "$.customer.consents", "$.customer.enabled",
		"$.customer.externalId", "$.customer.nodeId", "$.customer.tags.labels", "$.customer.tags.manual[1]"}},
	// Duplicates are caught below base too.
	{file: "customer-record/invalid-duplicate-member.json", want: []string{"$.customer.base.firstName"}, goOnly: true},
	// The top level must be an object.
	{file: "customer-record/invalid-not-object.json", want: []string{"$"}},
	// Null is no value for the envelope's members (and a null session is still a session a patch cannot have).
	{file: "customer-record/invalid-null-members.json", want: []string{"$.customer", "$.customerId", "$.session", "$.session"}},
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			schema := path.Dir(tc.file)
			base := path.Base(tc.file)
			if valid := strings.HasPrefix(base, "valid-"); valid != (len(tc.want) == 0) {
				t.Fatalf("file name says valid=%v, case wants %q", valid, tc.want)
			}
			checkMessage(t, schema, data, tc.want, tc.goOnly)
		})
	}
}

// TestGoldenFilesListed keeps testdata and the table in step: a golden file
// nobody checks pins nothing.
func TestGoldenFilesListed(t *testing.T) {
	listed := make(map[string]bool)
	for _, tc := range goldenCases {
		if listed[tc.file] {
			t.Errorf("%s listed twice", tc.file)
		}
		listed[tc.file] = true
	}
	schemasSeen := make(map[string]bool)
	err := fs.WalkDir(os.DirFS("testdata"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(p, "fuzz/") {
			return err
		}
		if !listed[p] {
			t.Errorf("testdata/%s is not in goldenCases", p)
		}
		schemasSeen[path.Dir(p)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Names() {
		if !schemasSeen[name] {
			t.Errorf("no golden files for schema %q", name)
		}
	}
}
