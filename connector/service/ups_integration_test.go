package service_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/connector/config"
	"github.com/contactlab/connector/connector/demo"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/fault"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/connector/ups"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/streamstest"
)

// upsPipeline is one ups sink of the tests: its name, upstream topic and
// collection, and the extra keys of its ups section.
type upsPipeline struct {
	name, topic string
	coll        schemas.Collection
	extra       string
}

var upsPipelines = []upsPipeline{
	{"ups-attributes", "profiles.attributes", schemas.UserAttributes, ""},
	{"ups-segments", "profiles.segments", schemas.Segments, "      site_id: 608\n"},
	{"ups-linking", "profiles.linking", schemas.UserLinking, "      linking_type: grouped\n"},
	{"ups-preferences", "profiles.preferences", schemas.UserPreferences, ""},
}

func upsTopics() []string {
	var ts []string
	for _, p := range upsPipelines {
		ts = append(ts, p.topic)
	}
	return ts
}

// upsConfig is a connector config with the four ups sinks: apiExtra is
// added to the ups section, sinkExtra to every sink, and upsExtra to every
// sink's ups section (each line indented for its place).
func upsConfig(t testing.TB, kb *testKafka, sb *sandbox.Sandbox, apiExtra, sinkExtra, upsExtra string) *config.Config {
	t.Helper()
	var sinks strings.Builder
	for _, p := range upsPipelines {
		fmt.Fprintf(&sinks, "  - name: %s\n    type: ups\n    topics: [%s]\n    group_id: %s\n    dead_letter_topic: %s\n%s    ups:\n      collection: %s\n      results_topic: %s\n%s%s",
			p.name, kb.name(p.topic), kb.name("connector-"+p.name), kb.name(p.name+".dlq"), sinkExtra, p.coll, kb.name(p.name+".results"), p.extra, upsExtra)
	}
	return testConfig(t, kb.addr, groupTimeouts, sandbox.UPSSection(sb.URL(), sandbox.UPSClientSecret)+apiExtra+"sinks:\n"+sinks.String())
}

// upsTraffic makes n updates per collection for users users (the same
// users in each collection), keyed by user. It returns the messages by
// topic, the last valid value of each user by collection, and the invalid
// values by topic.
func upsTraffic(n, users int, invalidShare float64) (msgs map[string][]kafka.Message, last map[schemas.Collection]map[string]json.RawMessage, invalid map[string]map[string]bool) {
	msgs = map[string][]kafka.Message{}
	last = map[schemas.Collection]map[string]json.RawMessage{}
	invalid = map[string]map[string]bool{}
	for _, p := range upsPipelines {
		g := demo.NewUPSTraffic(7, users, p.coll)
		g.InvalidShare = invalidShare
		last[p.coll] = map[string]json.RawMessage{}
		invalid[p.topic] = map[string]bool{}
		for range n {
			k, v, ok := g.Next()
			msgs[p.topic] = append(msgs[p.topic], kafka.Message{Key: k, Value: v})
			if !ok {
				invalid[p.topic][string(v)] = true
				continue
			}
			var r schemas.UPSRecord
			if err := json.Unmarshal(v, &r); err != nil {
				panic(err)
			}
			last[p.coll][r.UserID] = r.Value
		}
	}
	return msgs, last, invalid
}

func TestUPSEndToEndUnderFaults(t *testing.T) { forEachBroker(t, testUPSEndToEndUnderFaults) }

func testUPSEndToEndUnderFaults(t *testing.T, kb *testKafka) {
	const perCollection, users = 12500, 5000 // 50,000 updates
	broker := kb.start(t, 4, upsTopics()...)
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.UPS.UpdatesPerSecond = 20000
		c.UPS.JobDuration = 50 * time.Millisecond
		c.UPS.JobFailShare = 0.02
		c.UPS.Faults = fault.Settings{ServerErrorShare: 0.03, ThrottleShare: 0.02, ResetShare: 0.01, RetryAfter: fault.Duration(time.Second)}
	})
	msgs, last, invalid := upsTraffic(perCollection, users, 0.01)
	// Half before the connector starts (a backlog), half while it runs.
	for topic, ms := range msgs {
		streamstest.Produce(t, broker, kb.name(topic), ms[:len(ms)/2]...)
	}
	cfg := upsConfig(t, kb, sb,
		// Requests of 100 records make several hundred jobs, so that 2% of
		// them failing, and the faults, happen in every run.
		"  updates_per_second: 20000\n  status_poll_interval: 25ms\n  max_records: 100\n",
		"    retry:\n      initial: 5ms\n      max: 200ms\n",
		// Five attempts: a record dead-lettered after five FAILED jobs in a
		// row (odds 0.02^5) would break the last-value check below.
		"      max_job_attempts: 5\n")
	svc := startService(t, cfg)

	streamstest.WaitFor(t, 60*time.Second, "a tenth of the records accepted", func() (bool, string) {
		st := sb.UPS.Stats()
		return st.RecordsAccepted > 5000, fmt.Sprint(st.RecordsAccepted)
	})
	// Revoke every token mid-run: each service must get a new one and go on.
	sb.UPS.ExpireTokens()
	for topic, ms := range msgs {
		streamstest.Produce(t, broker, kb.name(topic), ms[len(ms)/2:]...)
	}
	streamstest.WaitFor(t, 3*time.Minute, "every pipeline to commit the end of its topic", func() (bool, string) {
		for _, p := range upsPipelines {
			if ok, state := streamstest.CaughtUp(t, broker, kb.name("connector-"+p.name), kb.name(p.topic)); !ok {
				return false, p.name + ": " + state + "; " + fmt.Sprint(svc.Counts())
			}
		}
		return true, ""
	})

	// Every user holds, in every collection, the last valid value produced.
	for _, p := range upsPipelines {
		for user, want := range last[p.coll] {
			got, _, ok := sb.UPS.Stored(p.coll, user)
			if !ok || !testkit.JSONEqual(got, want) {
				t.Fatalf("%s: user %s holds %s, want the last value produced %s", p.coll, user, got, want)
			}
		}
	}
	// Invalid records, and only those, are dead-lettered with their reason.
	for _, p := range upsPipelines {
		dl := streamstest.ReadAll(t, broker, kb.name(p.name+".dlq"))
		seen := map[string]bool{}
		for _, m := range dl {
			h := streamstest.Headers(m)
			if !invalid[p.topic][string(m.Value)] || h[streams.HeaderDLQReason] != "invalid" || h[streams.HeaderDLQError] == "" || h[streams.HeaderDLQTopic] != kb.name(p.topic) {
				t.Fatalf("%s: unexpected dead letter %s (%v)", p.name, m.Value, h)
			}
			seen[string(m.Value)] = true
		}
		if len(seen) != len(invalid[p.topic]) {
			t.Fatalf("%s: %d distinct invalid records dead-lettered, want %d", p.name, len(seen), len(invalid[p.topic]))
		}
	}
	// Every job's outcome is on a results topic.
	st := sb.UPS.Stats()
	jobs, failed := map[string]bool{}, map[string]bool{}
	for _, p := range upsPipelines {
		for _, m := range streamstest.ReadAll(t, broker, kb.name(p.name+".results")) {
			var r ups.JobResult
			if err := json.Unmarshal(m.Value, &r); err != nil {
				t.Fatalf("%s: result %s: %v", p.name, m.Value, err)
			}
			if r.Collection != string(p.coll) || r.Records < 1 || r.Attempt < 1 || string(m.Key) != r.JobID {
				t.Fatalf("%s: result %+v", p.name, r)
			}
			jobs[r.JobID] = true
			if r.Status == "FAILED" {
				failed[r.JobID] = true
				if len(r.Errors) == 0 {
					t.Fatalf("a FAILED result without the status messages: %+v", r)
				}
			}
		}
	}
	if int64(len(jobs)) != st.Jobs || int64(len(failed)) != st.JobsFailed {
		t.Fatalf("results for %d jobs (%d FAILED); the API ran %d (%d FAILED)", len(jobs), len(failed), st.Jobs, st.JobsFailed)
	}
	if st.JobsFailed == 0 || st.Faults.ServerErrors == 0 || st.Faults.Throttled == 0 || st.Unauthorized401 == 0 {
		t.Fatalf("faults were not all injected: jobs failed %d, %+v, 401s %d", st.JobsFailed, st.Faults, st.Unauthorized401)
	}
	t.Logf("sandbox: requests %d, accepted %d (mean %.0f records, %.0f bytes), jobs %d (%d FAILED), 401s %d, tokens %d, faults %+v; connector: %v",
		st.Requests, st.Accepted, st.MeanFillRecords, st.MeanBodyBytes, st.Jobs, st.JobsFailed, st.Unauthorized401, st.TokensIssued, st.Faults, svc.Counts())
}
