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
// The record must be I-JSON (RFC 7493) all the way down: the customer is
// sent as it came.
func DecodeCustomerRecord(data []byte) (*CustomerRecord, error) {
	v := violations{schema: customerRecordSchema}
	if !decodeIJSONRoot(&v, data) {
		return nil, v.err()
	}
	rec := &CustomerRecord{}
	var s customerShape
	readMembers(&v, "$", data, func(name, val []byte, k kind) memberStatus {
		switch string(name) {
		case "operation":
			return seenEnum(&s.operation, &rec.Operation, customerOperationSet, val, k)
		case "customerId":
			return seenString(&s.customerID, &rec.CustomerID, val, k)
		case "customer":
			rec.Customer = json.RawMessage(val)
			return seen(&s.customer, k)
		case "session":
			if k == kindObject {
				rec.Session, s.sessionValue = decodeSession(&v, val)
			}
			return seen(&s.session, k)
		}
		return memberUnknown
	})
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
	readMembers(v, "$.session", raw, func(name, val []byte, k kind) memberStatus {
		if string(name) == "value" {
			return seenString(&value, &out.Value, val, k)
		}
		return memberUnknown
	})
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
	// json.Marshal copies the customer as it is: it must be I-JSON as a
	// decoded record's is.
	checkRawIJSON(&v, "$.customer", r.Customer)
	return v.err()
}

// checkCustomerRecord holds every rule of the record; decoding and Validate
// differ only in how they fill the shape. size is the customer payload's
// length in bytes as it would be sent.
func checkCustomerRecord(v *violations, r *CustomerRecord, s *customerShape, size int) {
	checkEnum(v, "$.operation", s.operation, r.Operation, customerOperationSet, ruleCustomerOperation)
	op := ""
	if _, ok := customerOperationSet[r.Operation]; ok && s.operation == kindString {
		op = r.Operation
	}

	// Each member's own shape, whatever the operation.
	checkMember(v, "$.customerId", s.customerID, kindString, optional, isUUID(r.CustomerID), ruleUUID)
	checkMember(v, "$.customer", s.customer, kindObject, optional, true, ruleNotObject)
	if checkMember(v, "$.session", s.session, kindObject, optional, true, ruleNotObject) &&
		checkMember(v, "$.session.value", s.sessionValue, kindString, required, r.Session.Value != "", ruleNonEmpty) {
		checkChars(v, "$.session.value", r.Session.Value, MaxSessionValue)
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

// checkCustomerBody checks a Create (create) or Partially modify customer
// body: the members the reference lists, their types, nodeId, and the
// length limits. Below base and consents only lengths are checked: the
// types of the many base properties are Contacthub's to judge, and a wrong
// one comes back as a 400 with its path.
func checkCustomerBody(v *violations, raw []byte, create bool) {
	var s struct{ nodeID, externalID, extra, base, consents, extended, tags, enabled kind }
	var nodeID string
	var externalID, extra, base, consents, tags []byte
	readMembers(v, "$.customer", raw, func(name, val []byte, k kind) memberStatus {
		switch string(name) {
		case "nodeId":
			if !create {
				v.add("$.customer.nodeId", ruleCustomerNodePatch)
			}
			return seenString(&s.nodeID, &nodeID, val, k)
		case "externalId":
			externalID = val
			return seen(&s.externalID, k)
		case "extra":
			extra = val
			return seen(&s.extra, k)
		case "base":
			base = val
			return seen(&s.base, k)
		case "consents":
			consents = val
			return seen(&s.consents, k)
		case "extended":
			return seen(&s.extended, k)
		case "tags":
			tags = val
			return seen(&s.tags, k)
		case "enabled":
			return seen(&s.enabled, k)
		}
		if _, ok := readOnlyCustomerMembers[string(name)]; ok {
			v.add(memberPath("$.customer", string(name)), ruleCustomerReadOnly)
			return memberFirst
		}
		return memberUnknown
	})
	if create {
		checkMember(v, "$.customer.nodeId", s.nodeID, kindString, required, isUUID(nodeID), ruleUUID)
	}
	if checkMember(v, "$.customer.externalId", s.externalID, kindString, nullable, true, ruleStringOrNull) {
		checkLength(v, "$.customer.externalId", externalID, MaxCustomerString)
	}
	if checkMember(v, "$.customer.extra", s.extra, kindString, nullable, true, ruleStringOrNull) {
		checkLength(v, "$.customer.extra", extra, MaxCustomerString)
	}
	if checkMember(v, "$.customer.base", s.base, kindObject, nullable, true, ruleObjectOrNull) {
		checkBase(v, base)
	}
	if checkMember(v, "$.customer.consents", s.consents, kindObject, nullable, true, ruleObjectOrNull) {
		checkLimited(v, "$.customer.consents", consents, MaxCustomerString)
	}
	// Extended properties have the limits the workspace gave them.
	checkMember(v, "$.customer.extended", s.extended, kindObject, nullable, true, ruleObjectOrNull)
	if checkMember(v, "$.customer.tags", s.tags, kindObject, nullable, true, ruleObjectOrNull) {
		checkTags(v, tags)
	}
	checkMember(v, "$.customer.enabled", s.enabled, kindBool, optional, true, ruleBoolean)
}

// checkBase applies the base limits: 255 everywhere but the two properties
// the reference names.
func checkBase(v *violations, raw []byte) {
	r, _ := readObject(raw)
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		name := memberName(key)
		path := memberPath("$.customer.base", string(name))
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
	r, _ := readObject(raw)
	for key, val, ok := r.next(); ok; key, val, ok = r.next() {
		name := memberName(key)
		path := memberPath(parent, string(name))
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
		r, _ := readObject(raw)
		for key, val, ok := r.next(); ok; key, val, ok = r.next() {
			checkLimited(v, memberPath(path, string(memberName(key))), val, MaxCustomerString)
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
	checkChars(v, path, decodeString(raw), limit)
}

func checkChars(v *violations, path, s string, limit int) {
	if len(s) > limit && utf8.RuneCountInString(s) > limit {
		v.add(path, ruleMaxChars(limit))
	}
}

// checkTags applies the one limit that is a sum: each of tags.auto and
// tags.manual holds at most 1000 characters in all.
func checkTags(v *violations, raw []byte) {
	var auto, manual struct {
		k   kind
		raw []byte
	}
	readMembers(v, "$.customer.tags", raw, func(name, val []byte, k kind) memberStatus {
		switch string(name) {
		case "auto":
			auto.raw = val
			return seen(&auto.k, k)
		case "manual":
			manual.raw = val
			return seen(&manual.k, k)
		}
		return memberUnknown
	})
	checkTagList(v, "$.customer.tags.auto", auto.k, auto.raw)
	checkTagList(v, "$.customer.tags.manual", manual.k, manual.raw)
}

func checkTagList(v *violations, path string, k kind, raw []byte) {
	if !checkMember(v, path, k, kindArray, nullable, true, "must be an array of strings or null") {
		return
	}
	total := 0
	items, _ := readArray(raw)
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
}
