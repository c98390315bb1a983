package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// FieldError is one problem with one key of the configuration. Parse and
// Validate return every FieldError they find, joined (errors.Join) under a
// "config: " prefix; errors.As finds the first, and unwrapping the join
// gives them all.
type FieldError struct {
	// Key locates the value, e.g. "sinks[1].ups.collection".
	Key string
	// Reason says what is wrong with it, e.g. `"segments" is not one of ...`.
	Reason string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Reason }

// Problems collects the FieldErrors of one Validate run. It is scoped to a
// key: a component gets one scoped to the block it owns and names keys
// relative to it ("base_url" in the ups section reads "ups.base_url"). The
// zero Problems collects nothing; use the one Validate gives.
type Problems struct {
	scope string
	list  *[]error
}

func newProblems() Problems { return Problems{list: new([]error)} }

// Add reports a problem with key (relative to p's scope; "" is the scope
// itself), the reason formatted as by fmt.Sprintf.
func (p Problems) Add(key, format string, args ...any) {
	if p.list == nil {
		return
	}
	*p.list = append(*p.list, &FieldError{Key: join(p.scope, key), Reason: fmt.Sprintf(format, args...)})
}

// Under is p scoped to key beneath p's scope.
func (p Problems) Under(key string) Problems {
	return Problems{scope: join(p.scope, key), list: p.list}
}

// Err is every problem reported, joined, or nil.
func (p Problems) Err() error {
	if p.list == nil || len(*p.list) == 0 {
		return nil
	}
	return errors.Join(*p.list...)
}

// join appends key to scope: "sinks[1]" + "ups.collection", "ups" + "[2]".
func join(scope, key string) string {
	switch {
	case scope == "":
		return key
	case key == "":
		return scope
	case strings.HasPrefix(key, "["):
		return scope + key
	}
	return scope + "." + key
}

// HTTPURL reports key unless v is an absolute http or https URL.
func (p Problems) HTTPURL(key, v string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Add(key, "%q is not an http(s) URL", v)
	}
}

// SecretSet reports key unless the secret holds a credential.
func (p Problems) SecretSet(key string, s Secret) {
	if s.IsZero() {
		p.Add(key, "must be set (a literal, ${ENV} or file:/path)")
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// UUID reports key unless v is a UUID.
func (p Problems) UUID(key, v string) {
	if !uuidRE.MatchString(v) {
		p.Add(key, "%q is not a uuid", v)
	}
}

// InRange reports key unless lo <= v <= hi; why, when not empty, says where
// the bounds come from ("the API's limit").
func (p Problems) InRange(key string, v, lo, hi int, why string) {
	if v >= lo && v <= hi {
		return
	}
	if why != "" {
		p.Add(key, "%d is not in %d..%d (%s)", v, lo, hi, why)
		return
	}
	p.Add(key, "%d is not in %d..%d", v, lo, hi)
}

// Default sets *p to v when *p is the zero value: the shape of every default
// of the configuration.
func Default[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Duration reports key unless lo <= d <= hi: negative durations and
// durations too short to work (a 1ns timeout) are refused by name.
func (p Problems) Duration(key string, d, lo, hi time.Duration) {
	switch {
	case d < 0:
		p.Add(key, "%s is negative", d)
	case d < lo:
		p.Add(key, "%s is shorter than %s", d, lo)
	case d > hi:
		p.Add(key, "%s is longer than %s", d, hi)
	}
}

// OneOf reports key unless v is one of the allowed values.
func (p Problems) OneOf(key, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	p.Add(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

// DefaultConcurrency sets *c to def when unset, and fills the bounds of a
// bare `concurrency: auto` from def (or 1..1024 when def is fixed).
func DefaultConcurrency(c *Concurrency, def Concurrency) {
	if *c == (Concurrency{}) {
		*c = def
		return
	}
	if c.Auto {
		lo, hi := 1, 1024
		if def.Auto {
			lo, hi = def.Min, def.Max
		}
		Default(&c.Min, lo)
		Default(&c.Max, max(hi, c.Min))
	}
}
