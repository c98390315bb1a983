// Package testkit holds the helpers every test of the module shares:
// WaitFor, the one way a test waits for a condition (with a deadline,
// never a bare sleep), JSONEqual, the one way two JSON documents are
// compared by meaning, Clock, the one clock a test moves by hand, and
// Golden, the one comparison with a golden file. It is a leaf: it imports
// nothing of the module, so any package's tests may use it.
package testkit

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// pollInterval is how often WaitFor asks again; it paces polling and
// synchronises nothing.
const pollInterval = 10 * time.Millisecond

// WaitFor polls cond until it is true or timeout passes, then fails the
// test naming what it waited for and the last state cond described.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last state: %s", timeout, what, state)
		}
		time.Sleep(pollInterval)
	}
}

// Until adapts a condition without a state description for WaitFor.
func Until(cond func() bool) func() (bool, string) {
	return func() (bool, string) { return cond(), "" }
}

// JSONEqual reports whether a and b are JSON documents of the same meaning:
// white space, member order and number spelling (1.0 and 1) do not count.
// Two invalid documents are equal only when their bytes are.
func JSONEqual(a, b []byte) bool {
	var x, y any
	ea, eb := json.Unmarshal(a, &x), json.Unmarshal(b, &y)
	if ea != nil || eb != nil {
		return ea != nil && eb != nil && bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// RequireJSONEqual fails the test when got and want differ in meaning.
func RequireJSONEqual(t testing.TB, got, want []byte) {
	t.Helper()
	if !JSONEqual(got, want) {
		t.Fatalf("JSON differs:\n got: %s\nwant: %s", got, want)
	}
}
