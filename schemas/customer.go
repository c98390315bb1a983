package schemas

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

const customerRecordSchema = "customer-record"

// The operations a CustomerRecord asks for; each is one Contacthub call.
const (
	// CustomerOpCreate is Create customer under the workspace's MERGE
	// uniqueness policy: the customer is created, or, when the entry node's
	// unique properties match an existing one, merged into it (an upsert).
	CustomerOpCreate = "create"
	// CustomerOpPatch is Partially modify customer: the members sent are
	// added or replace the customer's.
	CustomerOpPatch = "patch"
	// CustomerOpSession is Create customer session: a session id becomes the
	// customer's.
	CustomerOpSession = "session"
)

// The limits of Contacthub API 1.299.1 on a customer body (Create and
// Partially modify customer): "Customer's payload must not exceed 64kB. All
// the base properties of type String have maxLength = 255 except for the
// following: base.address.street = 500, base.pictureUrl = 1000, tags.auto
// and tags.manual = 1000 each (considering the sum of all the Strings length
// in the array)". Create customer session allows 255 for its strings.
//
// "Base properties" are read as every property that is not an extended one
// (the reference sets them apart: "Extended properties String length can be
// configured"), which its own exceptions confirm by naming tags, which live
// outside base. So externalId, extra and every string below base and
// consents are held to 255. Lengths count characters (Unicode code points),
// as JSON Schema's maxLength does; the payload counts bytes.
const (
	MaxCustomerBytes      = 64 * 1024
	MaxCustomerString     = 255
	MaxCustomerStreet     = 500
	MaxCustomerPictureURL = 1000
	MaxCustomerTags       = 1000
	MaxSessionValue       = 255
)

var customerOperationSet = stringSet([]string{CustomerOpCreate, CustomerOpPatch, CustomerOpSession})

// readOnlyCustomerMembers are set by Contacthub and listed as immutable by
// Partially modify customer; neither body may carry them.
var readOnlyCustomerMembers = stringSet([]string{"id", "intId", "version", "sourceInfo", "registeredAt", "updatedAt", "deleted"})

var (
	ruleCustomerOperation = "must be create, patch or session"
	ruleCustomerTooLarge  = "payload must not exceed " + strconv.Itoa(MaxCustomerBytes) + " bytes"
	ruleCustomerTags      = "the lengths of its strings must add up to at most " + strconv.Itoa(MaxCustomerTags) + " characters"
	ruleCustomerReadOnly  = "is set by Contacthub and cannot be sent"
	ruleCustomerNodePatch = "is immutable: a patch cannot carry it"
	ruleObjectOrNull      = "must be a JSON object or null"
	ruleStringOrNull      = "must be a string or null"
	ruleBoolean           = "must be a boolean"
	ruleUUID              = "must be a uuid string"
)

// ruleMaxChars is the length rule of a string limited to n characters.
func ruleMaxChars(n int) string { return "must be at most " + strconv.Itoa(n) + " characters" }

// CustomerRecord is the value of an upstream customers topic: one operation
// on one Contacthub customer. It is a small envelope, so that the operation
// and the customer it concerns travel with the data:
//
//	{"operation": "create", "customer": {"nodeId": "...", "externalId": "...", "base": {...}}}
//	{"operation": "patch", "customerId": "<uuid>", "customer": {"base": {...}}}
//	{"operation": "session", "customerId": "<uuid>", "session": {"value": "..."}}
//
// create needs customer (the Create customer body, nodeId required) and no
// customerId: Contacthub gives the id, and finds an existing customer by
// the entry node's unique properties. patch needs customerId and customer
// (the Partially modify customer body, without nodeId). session needs
// customerId and session. No member may be null.
//
// Customer is kept as it was read and sent byte for byte, so the 64 kB
// limit is checked on exactly what Contacthub receives.
type CustomerRecord struct {
	Operation  string           `json:"operation"`
	CustomerID string           `json:"customerId,omitempty"`
	Customer   json.RawMessage  `json:"customer,omitempty"`
	Session    *CustomerSession `json:"session,omitempty"`
}

// CustomerSession is the body of Create customer session.
type CustomerSession struct {
	// Value is the session id; Contacthub keeps it unique within a node.
	Value string `json:"value"`
}

// customerShape remembers the JSON types the struct cannot.
type customerShape struct {
	operation, customerID, customer, session kind
	sessionValue                             kind
}

// DecodeCustomerRecord decodes and validates one record. The error is a
// *ValidationError listing every broken rule, each at its JSON path below
// the record ("$.customer.base.address.street"); the record is nil then.
func DecodeCustomerRecord(data []byte) (*CustomerRecord, error) {
	v := violations{schema: customerRecordSchema}
	if !decodeRoot(&v, data) {
		return nil, v.err()
	}
	rec := &CustomerRecord{}
	var s customerShape
	r, _ := readObject(data)
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		name := memberName(key)
		k := kindOf(val)
		var slot *kind
		switch string(name) {
		case "operation":
			slot = &s.operation
			if k == kindString {
				rec.Operation, _ = enumString(val, customerOperationSet)
			}
		case "customerId":
			slot = &s.customerID
			if k == kindString {
				rec.CustomerID = decodeString(val)
			}
		case "customer":
			slot = &s.customer
			rec.Customer = json.RawMessage(val)
		case "session":
			slot = &s.session
			if k == kindObject {
				rec.Session, s.sessionValue = decodeSession(&v, val)
			}
		default:
			v.add(memberPath("$", string(name)), ruleUnknown)
			continue
		}
		if *slot != kindAbsent {
			v.add(memberPath("$", string(name)), ruleDuplicate)
		}
		*slot = k
	}
	checkCustomerRecord(&v, rec, &s, len(rec.Customer))
	if err := v.err(); err != nil {
		return nil, err
	}
	if rec.Customer != nil {
		// The caller may reuse data (a pooled fetch buffer).
		rec.Customer = bytes.Clone(rec.Customer)
	}
	return rec, nil
}

func decodeSession(v *violations, raw []byte) (*CustomerSession, kind) {
	out := &CustomerSession{}
	var value kind
	r, _ := readObject(raw)
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		name := memberName(key)
		if string(name) != "value" {
			v.add(memberPath("$.session", string(name)), ruleUnknown)
			continue
		}
		if value != kindAbsent {
			v.add("$.session.value", ruleDuplicate)
		}
		value = kindOf(val)
		if value == kindString {
			out.Value = decodeString(val)
		}
	}
	return out, value
}

// Validate reports whether the JSON that json.Marshal makes of r is a valid
// record, so a record that passes can be produced as marshaled. The error
// is a *ValidationError.
func (r *CustomerRecord) Validate() error {
	v := violations{schema: customerRecordSchema}
	s := customerShape{
		operation:  kindString,
		customerID: stringKind(r.CustomerID, true),
		customer:   rawKind(r.Customer, true),
	}
	if r.Session != nil {
		s.session, s.sessionValue = kindObject, kindString
	}
	size := 0
	if s.customer == kindObject {
		size = len(r.Customer)
		if 6*size > MaxCustomerBytes {
			// json.Marshal compacts the member and escapes <, > and & as
			// \u003c..., so only what it writes says whether the member
			// fits; the bound spares every customer far from the limit.
			if b, err := json.Marshal(r.Customer); err == nil {
				size = len(b)
			}
		}
	}
	checkCustomerRecord(&v, r, &s, size)
	return v.err()
}

// checkCustomerRecord holds every rule of the record; decoding and Validate
// differ only in how they fill the shape. size is the customer payload's
// length in bytes as it would be sent.
func checkCustomerRecord(v *violations, r *CustomerRecord, s *customerShape, size int) {
	op := ""
	switch s.operation {
	case kindAbsent:
		v.add("$.operation", ruleRequired)
	case kindString:
		if _, ok := customerOperationSet[r.Operation]; ok {
			op = r.Operation
		} else {
			v.add("$.operation", ruleCustomerOperation)
		}
	default:
		v.add("$.operation", ruleCustomerOperation)
	}

	// Each member's own shape, whatever the operation.
	switch s.customerID {
	case kindAbsent:
	case kindString:
		if !isUUID(r.CustomerID) {
			v.add("$.customerId", ruleUUID)
		}
	default:
		v.add("$.customerId", ruleUUID)
	}
	switch s.customer {
	case kindAbsent, kindObject:
	case kindInvalid:
		v.add("$.customer", ruleNotJSON)
	default:
		v.add("$.customer", ruleNotObject)
	}
	switch s.session {
	case kindAbsent:
	case kindObject:
		switch s.sessionValue {
		case kindAbsent:
			v.add("$.session.value", ruleRequired)
		case kindString:
			checkSessionValue(v, r.Session.Value)
		default:
			v.add("$.session.value", ruleNonEmpty)
		}
	default:
		v.add("$.session", ruleNotObject)
	}

	// What the operation needs and forbids.
	need := func(k kind, path string) {
		if k == kindAbsent {
			v.add(path, "is required when operation is "+op)
		}
	}
	forbid := func(k kind, path string) {
		if k != kindAbsent {
			v.add(path, "must be absent when operation is "+op)
		}
	}
	switch op {
	case CustomerOpCreate:
		forbid(s.customerID, "$.customerId")
		need(s.customer, "$.customer")
		forbid(s.session, "$.session")
	case CustomerOpPatch:
		need(s.customerID, "$.customerId")
		need(s.customer, "$.customer")
		forbid(s.session, "$.session")
	case CustomerOpSession:
		need(s.customerID, "$.customerId")
		forbid(s.customer, "$.customer")
		need(s.session, "$.session")
	}
	if s.customer == kindObject && (op == CustomerOpCreate || op == CustomerOpPatch) {
		if size > MaxCustomerBytes {
			v.add("$.customer", ruleCustomerTooLarge)
		}
		checkCustomerBody(v, r.Customer, op == CustomerOpCreate)
	}
}

func checkSessionValue(v *violations, value string) {
	switch {
	case value == "":
		v.add("$.session.value", ruleNonEmpty)
	case len(value) > MaxSessionValue && utf8.RuneCountInString(value) > MaxSessionValue:
		v.add("$.session.value", ruleMaxChars(MaxSessionValue))
	}
}

// checkCustomerBody checks a Create (create) or Partially modify customer
// body: the members the reference lists, their types, nodeId, and the
// length limits. Below base and consents only lengths are checked: the
// types of the many base properties are Contacthub's to judge, and a wrong
// one comes back as a 400 with its path.
func checkCustomerBody(v *violations, raw []byte, create bool) {
	var seen memberSet
	var nodeID kind
	r, _ := readObject(raw)
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		name := memberName(key)
		path := memberPath("$.customer", string(name))
		if seen.add(name) {
			v.add(path, ruleDuplicate)
		}
		k := kindOf(val)
		switch string(name) {
		case "nodeId":
			if !create {
				v.add(path, ruleCustomerNodePatch)
				continue
			}
			nodeID = k
			if k != kindString || !isUUID(decodeString(val)) {
				v.add(path, ruleUUID)
			}
		case "externalId", "extra":
			switch k {
			case kindNull:
			case kindString:
				checkLength(v, path, val, MaxCustomerString)
			default:
				v.add(path, ruleStringOrNull)
			}
		case "base":
			switch k {
			case kindNull:
			case kindObject:
				checkBase(v, val)
			default:
				v.add(path, ruleObjectOrNull)
			}
		case "consents":
			switch k {
			case kindNull:
			case kindObject:
				checkLimited(v, path, val, MaxCustomerString)
			default:
				v.add(path, ruleObjectOrNull)
			}
		case "extended":
			// Extended properties have the limits the workspace gave them.
			if k != kindNull && k != kindObject {
				v.add(path, ruleObjectOrNull)
			}
		case "tags":
			switch k {
			case kindNull:
			case kindObject:
				checkTags(v, val)
			default:
				v.add(path, ruleObjectOrNull)
			}
		case "enabled":
			if k != kindBool {
				v.add(path, ruleBoolean)
			}
		default:
			if _, ok := readOnlyCustomerMembers[string(name)]; ok {
				v.add(path, ruleCustomerReadOnly)
			} else {
				v.add(path, ruleUnknown)
			}
		}
	}
	if create && nodeID == kindAbsent {
		v.add("$.customer.nodeId", ruleRequired)
	}
}

// checkBase applies the base limits: 255 everywhere but the two properties
// the reference names.
func checkBase(v *violations, raw []byte) {
	var seen memberSet
	r, _ := readObject(raw)
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		name := memberName(key)
		path := memberPath("$.customer.base", string(name))
		if seen.add(name) {
			v.add(path, ruleDuplicate)
		}
		switch string(name) {
		case "pictureUrl":
			checkLimited(v, path, val, MaxCustomerPictureURL)
		case "address":
			if kindOf(val) == kindObject {
				checkAddress(v, path, val)
			} else {
				checkLimited(v, path, val, MaxCustomerString)
			}
		default:
			checkLimited(v, path, val, MaxCustomerString)
		}
	}
}

func checkAddress(v *violations, parent string, raw []byte) {
	var seen memberSet
	r, _ := readObject(raw)
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		name := memberName(key)
		path := memberPath(parent, string(name))
		if seen.add(name) {
			v.add(path, ruleDuplicate)
		}
		limit := MaxCustomerString
		if string(name) == "street" {
			limit = MaxCustomerStreet
		}
		checkLimited(v, path, val, limit)
	}
}

// checkLimited holds a string to limit characters, and every string inside
// an object or array to the general 255.
func checkLimited(v *violations, path string, raw []byte, limit int) {
	switch kindOf(raw) {
	case kindString:
		checkLength(v, path, raw, limit)
	case kindObject:
		var seen memberSet
		r, _ := readObject(raw)
		for key, val, ok := r.next(); ok; key, val, ok = r.next() {
			name := memberName(key)
			p := memberPath(path, string(name))
			if seen.add(name) {
				v.add(p, ruleDuplicate)
			}
			checkLimited(v, p, val, MaxCustomerString)
		}
	case kindArray:
		r, _ := readArray(raw)
		for i := 0; ; i++ {
			val, ok := r.next()
			if !ok {
				break
			}
			checkLimited(v, indexPath(path, i), val, MaxCustomerString)
		}
	}
}

// checkLength holds the JSON string raw to limit characters. Most strings
// pass on their raw length alone: no character takes fewer bytes than one,
// escaped or not, so only the long ones are decoded and counted.
func checkLength(v *violations, path string, raw []byte, limit int) {
	if len(raw)-2 <= limit {
		return
	}
	if utf8.RuneCountInString(decodeString(raw)) > limit {
		v.add(path, ruleMaxChars(limit))
	}
}

// checkTags applies the one limit that is a sum: each of tags.auto and
// tags.manual holds at most 1000 characters in all.
func checkTags(v *violations, raw []byte) {
	var seen memberSet
	r, _ := readObject(raw)
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		name := memberName(key)
		path := memberPath("$.customer.tags", string(name))
		if seen.add(name) {
			v.add(path, ruleDuplicate)
		}
		if string(name) != "auto" && string(name) != "manual" {
			v.add(path, ruleUnknown)
			continue
		}
		switch kindOf(val) {
		case kindNull:
		case kindArray:
			total := 0
			items, _ := readArray(val)
			for i := 0; ; i++ {
				item, ok := items.next()
				if !ok {
					break
				}
				if kindOf(item) != kindString {
					v.add(indexPath(path, i), ruleString)
					continue
				}
				total += utf8.RuneCountInString(decodeString(item))
			}
			if total > MaxCustomerTags {
				v.add(path, ruleCustomerTags)
			}
		default:
			v.add(path, "must be an array of strings or null")
		}
	}
}
