package demo

import (
	"fmt"

	"github.com/contactlab/connector/connector/sandbox"
)

// demoConfig is the connector configuration of the embedded default: every
// pipeline, pointed at the embedded broker and the sandbox.
func demoConfig(broker string, sb *sandbox.Sandbox, ops string) string {
	return fmt.Sprintf(`
kafka:
  brokers: [%q]
  session_timeout: 6s
http:
  listen: %q
log:
  level: warn
contacthub:
  base_url: %s
  workspace_id: %s
  token: %s
sinks:
  - name: events
    type: contacthub-events
    topics: [web.events]
`, broker, ops, sb.ContacthubURL(), sandbox.WorkspaceID, sandbox.ContacthubToken)
}

// feeds are the upstream traffic generators, one per upstream topic.
func feeds() []feed {
	ev := NewEventTraffic(1, 2000, sandbox.NodeID)
	return []feed{
		{topic: "web.events", rate: 300, next: ev.Next},
	}
}
