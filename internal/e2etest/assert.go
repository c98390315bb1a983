package e2etest

import (
	"testing"

	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/schemas"
)

// RequireAccepted fails the test unless the sandbox's Contacthub accepted
// every one of bodies at least once; the failure is format (a %d for the
// body's index, then a %s for the body) about the first one missing.
func RequireAccepted(t testing.TB, sb *sandbox.Sandbox, bodies [][]byte, format string) {
	t.Helper()
	for i, b := range bodies {
		if sb.Contacthub.AcceptedCount(b) == 0 {
			st := sb.Contacthub.Stats()
			t.Logf("the sandbox saw: accepted %d (%d distinct), rejected %d, forbidden %d, unauthorized %d, throttled %d, faults %+v",
				st.Accepted, st.DistinctBodies, st.Rejected, st.Forbidden, st.Unauthorized, st.Throttled, st.Faults)
			t.Fatalf(format, i, b)
		}
	}
}

// RequireStored fails the test unless every user of last holds, in the
// sandbox's UPS collection c, a value of the same meaning as its last one;
// the failure is format (%s for the user, what it holds and what it
// should) about the first one that does not.
func RequireStored[V ~[]byte](t testing.TB, sb *sandbox.Sandbox, c schemas.Collection, last map[string]V, format string) {
	t.Helper()
	for user, want := range last {
		got, _, ok := sb.UPS.Stored(c, user)
		if !ok || !testkit.JSONEqual(got, []byte(want)) {
			t.Fatalf(format, user, got, want)
		}
	}
}
