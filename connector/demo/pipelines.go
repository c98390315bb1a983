package demo

import (
	"fmt"
	"strings"
	"time"

	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/examples/orders"
	"github.com/contactlab/connector/schemas"
)

// upsFeeds are the four UPS pipelines of the demo: name, upstream topic,
// collection and the sink's extra settings.
var upsFeeds = []struct {
	name, topic string
	coll        schemas.Collection
	extra       string
}{
	{"ups-attributes", "profiles.attributes", schemas.UserAttributes, ""},
	{"ups-segments", "profiles.segments", schemas.Segments, ""},
	{"ups-linking", "profiles.linking", schemas.UserLinking, "      linking_type: grouped\n"},
	{"ups-preferences", "profiles.preferences", schemas.UserPreferences, ""},
}

// demoConfig is the connector configuration of the embedded default: every
// pipeline, pointed at the embedded broker and the sandbox.
func demoConfig(broker string, sb *sandbox.Sandbox, ops string) string {
	ups := ""
	for _, u := range upsFeeds {
		ups += fmt.Sprintf("  - name: %s\n    type: ups\n    topics: [%s]\n    ups:\n      collection: %s\n%s", u.name, u.topic, u.coll, u.extra)
	}
	return fmt.Sprintf(`
kafka:
  brokers: [%q]
  session_timeout: 6s
  heartbeat_interval: 2s
http:
  listen: %q
log:
  level: warn
%s%s%ssinks:
  - name: events
    type: contacthub-events
    topics: [web.events]
%s  - name: order-events
    type: contacthub-events
    topics: [shop.orders]
    mapping: |
%s  - name: order-segments
    type: ups
    topics: [shop.orders]
    ups:
      collection: rr-segments
    mapping: |
%s  - name: customers
    type: contacthub-customers
    topics: [crm.customers]
  - name: categorization
    type: enablenow
    topics: [categorization.requests]
    enablenow:
      monitor_jobs: true
sources:
  - name: updates
    type: contacthub-updates
    poll_interval: 500ms
`, broker, ops,
		sandbox.ContacthubSection(sb.URL()), sandbox.UPSSection(sb.URL(), sandbox.UPSClientSecret), sandbox.EnableNowSection(sb.URL()),
		ups, indent(orders.CompletedOrderMapping, "      "), indent(orders.SegmentsMapping, "      "))
}

// indent prefixes every line of s, for a block scalar of the config.
func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix) + "\n"
}

// feeds are the upstream traffic generators, one per upstream topic. The
// UPS feeds together stay well below the API key's 1000 updates/s.
func feeds(sb *sandbox.Sandbox) []feed {
	ev := NewEventTraffic(1, 2000, sandbox.NodeID)
	fs := []feed{{topic: "web.events", rate: 300, next: ev.Next}}
	for i, u := range upsFeeds {
		g := NewUPSTraffic(uint64(10+i), 2000, u.coll)
		fs = append(fs, feed{topic: u.topic, rate: 100, next: g.Next})
	}
	// The shop's OrderPlaced domain events: the order-events and
	// order-segments pipelines map each to a completedOrder event and UPS
	// segment updates, and filter the shop's test orders.
	og := orders.NewTraffic(4, 2000)
	og.TestShare = 0.05
	og.Start = time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	fs = append(fs, feed{topic: "shop.orders", rate: 50, next: func() ([]byte, []byte, bool) {
		k, v, kind := og.Next()
		return k, v, kind == orders.Valid
	}})
	cat := NewCategorizationTraffic(3)
	fs = append(fs, feed{topic: "categorization.requests", rate: 50, next: cat.Next})
	cust := NewCustomersTraffic(4, 500, sandbox.NodeID)
	cust.Resolve = func(externalID string) string {
		id, _ := sb.Contacthub.FindCustomer(sandbox.NodeID, externalID)
		return id
	}
	fs = append(fs, feed{topic: "crm.customers", rate: 50, next: cust.Next})
	return fs
}
