// Package schemas owns the shape of every message on every topic of the
// connector: the Go types, the JSON Schemas (draft 2020-12, embedded and
// available through Lookup), and the validation that decides whether a
// message is sent on or dead-lettered.
//
// The messages are:
//   - Event: a Contacthub event, the value of the upstream events topic and
//     the body of POST /workspaces/{workspaceId}/events ("event");
//   - UPSRecord: an Algonomy UPS enrichment record of one Collection, the
//     value of the upstream profile topics ("ups-rr-userattributes",
//     "ups-rr-segments", "ups-userlinking", "ups-rr-userpreferences");
//   - CategorizationRequest: an EnableNow categorization job request
//     ("categorization-request");
//   - UpdateEnvelope: a Contacthub update-stream entry as the connector
//     publishes it ("update-envelope"), and StreamPage, the stream as the API
//     returns it.
//
// Each Decode function decodes and validates in one pass and reports every
// broken rule in one *ValidationError, each located by a JSON path. Each
// Validate method answers the same question for a value built in Go: is the
// JSON that json.Marshal makes of it valid? So a value that decoded can be
// marshaled and decoded again.
//
// The validators are hand-written because they run on the hot path, and
// they accept exactly what the schema files accept, as a test checks on every
// golden file with santhosh-tekuri/jsonschema (formats asserted). A schema
// validator must assert "format" to reproduce the ranges of dates; the
// patterns already pin their syntax. The Go side is stricter in ways JSON
// Schema cannot express: the 64 kB limit of an event, and, for every record
// a sink forwards (events, customer records, UPS records, categorization
// requests), I-JSON (RFC 7493) all the way down: valid UTF-8, no unpaired
// surrogate escape, no number beyond a double, no member name twice in an
// object (names compared as decoded), so that this package and the API
// never read different values from one message. Update envelopes carry
// Contacthub's data as the API gave it and are held only to duplicates in
// the members the decoder reads.
//
// The package must not do I/O: no Kafka, no HTTP, no files, no logging, no
// metrics. It does not decide what happens to an invalid message; callers do,
// by errors.As on *ValidationError.
package schemas
