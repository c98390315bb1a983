// Package mapping runs a sink's jq mapping: it turns each record read from
// Kafka (a domain event: OrderPlaced, CustomerUpdated, a CloudEvent) into
// the API records the sink takes, zero, one or several.
//
// A Program is compiled once, at start, with github.com/itchyny/gojq. Its
// input is the document Input builds from a record:
//
//	{key, value, raw, headers, topic, partition, offset, timestamp, ce, data}
//
// value is the parsed JSON value (raw holds the bytes as a string when the
// value is not JSON), key a string, headers an object of strings; ce and
// data are there for records in the CloudEvents Kafka binding (binary or
// structured mode). Each output of the program is one record's value for
// the sink, as JSON.
//
// Wrap puts a Program in front of a streams.Sink. It owns nothing of the
// runtime: it starts no goroutines, commits nothing and retries nothing; it
// only derives records, hands them to the sink and reports, per original
// record, one outcome through done, as every sink does:
//
//   - no output: streams.ErrFiltered (acknowledged, counted as filtered);
//   - a mapping error: rejected with reason "mapping" and jq's message;
//   - an output the sink's schema refuses (WithCheck): rejected with reason
//     "invalid", naming the output (output[1]: event: $.type: ...), before
//     any output is sent;
//   - otherwise the outputs go to the sink, and the original's outcome is
//     reported once every output has one (see Wrap for how they combine).
//
// DryRun is the same code run without Kafka or an API, for `connector map`
// and the examples' tests.
package mapping
