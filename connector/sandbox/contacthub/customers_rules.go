package contacthub

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"unicode/utf8"
)

// The customers resource checks requests with rules of its own, read from
// the reference, rather than through package schemas as Create event does:
// it is the witness that the connector's validator applies the reference,
// so it must not share the connector's reading of it.
//
// From Create customer and Partially modify customer: "Customer's payload
// must not exceed 64kB. All the base properties of type String have
// maxLength = 255 except for the following: base.address.street = 500,
// base.pictureUrl = 1000, tags.auto and tags.manual = 1000 each
// (considering the sum of all the Strings length in the array). Extended
// properties String length can be configured using the dedicated endpoint".
// From Create customer session: "The maxLength allowed for String
// properties is 255".
const (
	customerPayloadLimit = 64 << 10
	customerStringLimit  = 255
)

// customerStringLimits are the exceptions to customerStringLimit, by path.
var customerStringLimits = map[string]int{
	"base.address.street": 500,
	"base.pictureUrl":     1000,
}

// customerTagLimit is the limit on the sum of the lengths of each tag list.
const customerTagLimit = 1000

// The members of the Create customer body; Partially modify customer takes
// the same but nodeId, which with the members Contacthub sets it lists as
// immutable.
var (
	customerMembers  = []string{"externalId", "nodeId", "base", "consents", "extended", "extra", "tags", "enabled"}
	immutableMembers = []string{"id", "nodeId", "intId", "version", "sourceInfo", "registeredAt", "updatedAt", "deleted"}
)

// customerRules checks one decoded customer body and collects what is wrong.
type customerRules struct {
	errs []fieldError
}

func (c *customerRules) fail(path, msg string) {
	c.errs = append(c.errs, fieldError{Message: msg, Path: path})
}

// body checks a create body (create) or a patch body. The caller checked
// that it is a JSON object.
func (c *customerRules) body(doc map[string]any, create bool) {
	names := make([]string, 0, len(doc))
	for k := range doc {
		names = append(names, k)
	}
	sort.Strings(names) // a stable answer for a given body
	for _, name := range names {
		v := doc[name]
		switch {
		case contains(immutableMembers, name) && !(create && name == "nodeId"):
			c.fail(name, "is immutable and cannot be sent")
			continue
		case !contains(customerMembers, name):
			c.fail(name, "is not a property of the customer")
			continue
		}
		switch name {
		case "nodeId":
			if s, ok := v.(string); !ok || !isUUID(s) {
				c.fail(name, "must be a uuid")
			}
		case "externalId", "extra":
			if v == nil {
				continue
			}
			if s, ok := v.(string); ok {
				c.length(name, s, customerStringLimit)
			} else {
				c.fail(name, "must be a string or null")
			}
		case "base", "consents":
			switch m := v.(type) {
			case nil:
			case map[string]any:
				c.strings(name, m)
			default:
				c.fail(name, "must be an object or null")
			}
		case "extended":
			if _, ok := v.(map[string]any); !ok && v != nil {
				c.fail(name, "must be an object or null")
			}
		case "tags":
			c.tags(v)
		case "enabled":
			if _, ok := v.(bool); !ok {
				c.fail(name, "must be a boolean")
			}
		}
	}
	if _, ok := doc["nodeId"]; create && !ok {
		c.fail("nodeId", "is required")
	}
}

// strings holds every string below path to its limit: 255, or the
// exception the reference names for the path.
func (c *customerRules) strings(path string, v any) {
	switch x := v.(type) {
	case string:
		limit, ok := customerStringLimits[path]
		if !ok {
			limit = customerStringLimit
		}
		c.length(path, x, limit)
	case map[string]any:
		for k, e := range x {
			c.strings(path+"."+k, e)
		}
	case []any:
		for i, e := range x {
			c.strings(path+"["+strconv.Itoa(i)+"]", e)
		}
	}
}

func (c *customerRules) length(path, s string, limit int) {
	if n := utf8.RuneCountInString(s); n > limit {
		c.fail(path, fmt.Sprintf("is %d characters long, more than the %d allowed", n, limit))
	}
}

func (c *customerRules) tags(v any) {
	if v == nil {
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		c.fail("tags", "must be an object or null")
		return
	}
	for k, list := range m {
		path := "tags." + k
		if k != "auto" && k != "manual" {
			c.fail(path, "is not a tag list (auto, manual)")
			continue
		}
		if list == nil {
			continue
		}
		items, ok := list.([]any)
		if !ok {
			c.fail(path, "must be an array of strings")
			continue
		}
		sum := 0
		for i, it := range items {
			s, ok := it.(string)
			if !ok {
				c.fail(path+"["+strconv.Itoa(i)+"]", "must be a string")
				continue
			}
			sum += utf8.RuneCountInString(s)
		}
		if sum > customerTagLimit {
			c.fail(path, fmt.Sprintf("holds %d characters in all, more than the %d allowed", sum, customerTagLimit))
		}
	}
}

// session checks a Create customer session body and returns its value.
func (c *customerRules) session(doc map[string]any) string {
	var value string
	for k, v := range doc {
		if k != "value" {
			c.fail(k, "is not a property of the session")
			continue
		}
		s, ok := v.(string)
		if !ok || s == "" {
			c.fail(k, "must be a non-empty string")
			continue
		}
		value = s
		c.length(k, s, customerStringLimit)
	}
	if _, ok := doc["value"]; !ok {
		c.fail("value", "is required")
	}
	return value
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// decodeObject reads a JSON object body.
func decodeObject(body []byte) (map[string]any, error) {
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, fmt.Errorf("the body must be a JSON object")
	}
	return doc, nil
}
