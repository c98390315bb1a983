package contacthub

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams"
)

// Headers of every record the update stream source publishes, so that a
// consumer can route and de-duplicate without decoding the value.
const (
	// HeaderOffset places the update in the stream, in decimal: unique per
	// update, and the same each time its page is read, so a consumer that
	// has seen it may skip it when it comes again (delivery is
	// at-least-once). HeaderOffsetSource says what it is.
	HeaderOffset = "contacthub.offset"
	// HeaderOffsetSource is "update" when HeaderOffset is the offset
	// Contacthub gave the update, "page" when the stream gave none (the
	// reference shows none) and HeaderOffset is the update's position in
	// its page (schemas.OffsetSourcePage).
	HeaderOffsetSource = "contacthub.offset-source"
	// HeaderOperation is CREATE, UPDATE or DELETE.
	HeaderOperation = "contacthub.operation"
	// HeaderEntityType is CUSTOMER or EVENT.
	HeaderEntityType = "contacthub.entity-type"
)

// Header values are shared by every record: kafka-go only reads them.
var headerValues = map[string][]byte{
	schemas.OperationCreate: []byte(schemas.OperationCreate),
	schemas.OperationUpdate: []byte(schemas.OperationUpdate),
	schemas.OperationDelete: []byte(schemas.OperationDelete),
	schemas.EntityCustomer:  []byte(schemas.EntityCustomer),
	schemas.EntityEvent:     []byte(schemas.EntityEvent),
	// The two offset sources; no operation or entity type is spelt alike.
	schemas.OffsetSourceUpdate: []byte(schemas.OffsetSourceUpdate),
	schemas.OffsetSourcePage:   []byte(schemas.OffsetSourcePage),
}

// Envelopes the source can publish an update in.
const (
	// EnvelopeContacthub (the default) publishes an UpdateEnvelope: the
	// operation, entity type, offset, workspace and node around the data.
	EnvelopeContacthub = "contacthub"
	// EnvelopeCloudEvents publishes the entity's data itself as a
	// CloudEvent in the Kafka binding's binary mode: what the envelope says
	// is in ce_* headers (see cloudEventHeaders), beside the contacthub.*
	// headers every record has.
	EnvelopeCloudEvents = "cloudevents"
)

// CloudEvents attributes of the records published with
// EnvelopeCloudEvents. The type is CloudEventTypePrefix, the entity type
// and the operation in the past tense:
// com.contactlab.hub.customer.updated, com.contactlab.hub.event.created.
// The id is the update's offset, unique within the source, which is the
// workspace: /contacthub/workspaces/{workspaceId}. The time is when the
// update was read from the stream (the stream says no time of its own);
// the subject is the record's key (the customer id).
const CloudEventTypePrefix = "com.contactlab.hub."

// cloudEventTypes are the ce_type values by entity type and operation,
// shared by every record.
var cloudEventTypes = func() map[[2]string][]byte {
	m := map[[2]string][]byte{}
	past := map[string]string{schemas.OperationCreate: "created", schemas.OperationUpdate: "updated", schemas.OperationDelete: "deleted"}
	for _, entity := range []string{schemas.EntityCustomer, schemas.EntityEvent} {
		for op, verb := range past {
			m[[2]string{entity, op}] = []byte(CloudEventTypePrefix + strings.ToLower(entity) + "." + verb)
		}
	}
	return m
}()

var (
	cloudEventSpecVersion = []byte("1.0")
	cloudEventContentType = []byte("application/json")
)

// Why an update was not published; the label of the skipped-updates counter.
const (
	skipRepeated = "repeated"  // at or below an offset already published
	skipInvalid  = "invalid"   // would not make a valid envelope
	skipTooLarge = "too_large" // over the read limit even in a page of its own
)

// recordBuilder turns pages of the update stream into Kafka records: per
// update an envelope (schemas.UpdateEnvelope) keyed by customer id, and a
// tombstone after the DELETE of a customer.
type recordBuilder struct {
	customersTopic string
	eventsTopic    string
	workspace      string
	nodeID         string
	tombstones     bool
	// workspaceJSON and nodeJSON are the two strings of the envelope that
	// come from configuration, encoded once.
	workspaceJSON []byte
	nodeJSON      []byte
	// deadLetterTopic, when set, receives the updates that would not make
	// a valid envelope, as read, with headers saying why (source names
	// them): nothing the stream carried is lost, and none stalls it.
	deadLetterTopic string
	source          string
	// cloudEvents publishes EnvelopeCloudEvents; ceSource is its ce_source.
	cloudEvents bool
	ceSource    []byte
}

func newRecordBuilder(customersTopic, eventsTopic, workspace, nodeID string, tombstones bool) recordBuilder {
	b := recordBuilder{customersTopic: customersTopic, eventsTopic: eventsTopic, workspace: workspace, nodeID: nodeID, tombstones: tombstones}
	b.workspaceJSON, _ = json.Marshal(workspace)
	if nodeID != "" {
		b.nodeJSON, _ = json.Marshal(nodeID)
	}
	return b
}

// publishCloudEvents makes b publish EnvelopeCloudEvents.
func (b *recordBuilder) publishCloudEvents() {
	b.cloudEvents = true
	b.ceSource = []byte("/contacthub/workspaces/" + b.workspace)
}

// pageRecords is one page turned into records.
type pageRecords struct {
	msgs []kafka.Message
	// mem holds what msgs point into; release gives it back for the next
	// page once Kafka is done with msgs.
	mem *recordMemory
	// after is the offset the page was asked after; last is the greatest
	// offset it covers, which is stored once Kafka acknowledged msgs.
	after, last int64
	updates     int // updates in the page
	published   int // updates that became records (tombstones not counted)
	skipped     map[string]int
	// deadLettered counts the invalid updates written to the dead-letter
	// topic (among those skipped).
	deadLettered int
	// customers and events count the records per topic, tombstones included.
	customers, events int
	// full is set for a page of the size asked: more are waiting.
	full bool
	// offsetSource says where the records' offsets come from
	// (schemas.OffsetSourceUpdate or OffsetSourcePage).
	offsetSource string
	// overrun is set when the page's positions go past its nextOffset,
	// which a stream whose offsets grow by at least one per update never
	// does: the next page's positions may then repeat some of these.
	overrun bool
}

// skippedUpdate reports an update that is not published, for the log.
type skippedUpdate struct {
	offset int64
	reason string
	err    error
}

// positions gives each update of page, asked after offset after (<0: asked
// with no offset), its place in the stream, and says where the places come
// from. When every update has its own offset, those are the places
// (schemas.OffsetSourceUpdate). Otherwise (the reference's shape) update i
// is at after+1+i, or, for a page asked with no offset, counted back from
// nextOffset so that the last update is at nextOffset
// (schemas.OffsetSourcePage). Offsets are integers that grow along the
// stream and nextOffset is at least the last update's, so the k updates of
// a page asked after A lie in A+1..nextOffset, above every earlier page's
// and below every later one's: positions are unique. They depend only on
// the offset asked after and the order of the answer, so a page read again
// after a crash gets the same ones, and so does a page read again with a
// smaller size (a prefix of the same updates).
func positions(page *schemas.StreamPage, after int64, dst []int64) ([]int64, string) {
	own := true
	for i := range page.Updates {
		own = own && page.Updates[i].HasOffset
	}
	dst = dst[:0]
	if own {
		for i := range page.Updates {
			dst = append(dst, page.Updates[i].Offset)
		}
		return dst, schemas.OffsetSourceUpdate
	}
	base := after + 1
	if after < 0 {
		// Offsets are not negative, so nextOffset >= k-1 for k updates.
		base = max(0, page.NextOffset-int64(len(page.Updates))+1)
	}
	for i := range page.Updates {
		dst = append(dst, base+int64(i))
	}
	return dst, schemas.OffsetSourcePage
}

// build turns page, read at readAt after offset after (<0: none known), into
// records, each placed in the stream as positions says. Updates with their
// own offset at or below after are dropped as repeats; updates that would
// not make a valid envelope are dropped and reported to skip.
func (b *recordBuilder) build(page *schemas.StreamPage, after int64, readAt time.Time, skip func(skippedUpdate)) *pageRecords {
	out := &pageRecords{after: after, last: max(after, page.NextOffset), updates: len(page.Updates)}
	if len(page.Updates) == 0 {
		return out
	}
	var places []int64
	places, out.offsetSource = positions(page, after, make([]int64, 0, len(page.Updates)))
	// The one assumption positions rest on; a stream that breaks it would
	// give the next page's first updates the places of this one's last.
	out.overrun = out.offsetSource == schemas.OffsetSourcePage && places[len(places)-1] > out.last
	sourceHeader := headerValues[out.offsetSource]
	// One buffer holds the page's keys, values and offset headers, and one
	// slice its headers: a page of 4,000 updates costs a handful of
	// allocations instead of tens of thousands, and none once the memory of
	// pages already stored comes back (see recordMemory).
	size := 0
	for i := range page.Updates {
		size += len(page.Updates[i].Entity.Data) + envelopeOverhead + len(b.workspaceJSON) + len(b.nodeJSON)
	}
	perUpdate := 4 // offset, offset source, operation, entity type
	if b.cloudEvents {
		perUpdate += 7
	}
	out.mem = getRecordMemory(size, len(page.Updates), perUpdate)
	buf, headers := out.mem.buf, out.mem.headers
	out.msgs = out.mem.msgs
	readAtJSON := readAt.UTC().AppendFormat(nil, time.RFC3339Nano)
	readAt = readAt.UTC()

	drop := func(offset int64, reason string, err error) {
		if out.skipped == nil {
			out.skipped = map[string]int{}
		}
		out.skipped[reason]++
		if skip != nil {
			skip(skippedUpdate{offset: offset, reason: reason, err: err})
		}
	}
	deadLetter := func(u *schemas.StreamUpdate, offset int64, err error) {
		if b.deadLetterTopic == "" {
			return
		}
		// Rare: built on its own, not in the page's shared memory.
		value, merr := json.Marshal(u)
		if merr != nil {
			value = nil
		}
		out.msgs = append(out.msgs, b.deadLetter(value, offset, out.offsetSource, skipInvalid, err, readAt))
		out.deadLettered++
	}
	for i := range page.Updates {
		u := &page.Updates[i]
		offset := places[i]
		if out.offsetSource == schemas.OffsetSourceUpdate {
			if offset <= after {
				drop(offset, skipRepeated, nil)
				continue
			}
			out.last = max(out.last, offset)
		}
		env := schemas.UpdateEnvelope{Operation: u.Operation, EntityType: u.Entity.Type, Offset: offset, OffsetSource: out.offsetSource,
			Workspace: b.workspace, NodeID: b.nodeID, Data: u.Entity.Data, ReadAt: readAt}
		k, err := envelopeKey(&env)
		if err != nil {
			err = fmt.Errorf("update at offset %d: %w", offset, err)
			drop(offset, skipInvalid, err)
			deadLetter(u, offset, err)
			continue
		}
		topic := b.eventsTopic
		if env.EntityType == schemas.EntityCustomer {
			topic = b.customersTopic
		}
		var key []byte
		if k != "" {
			start := len(buf)
			buf = append(buf, k...)
			key = buf[start:len(buf):len(buf)]
		}
		start := len(buf)
		if b.cloudEvents {
			buf = append(buf, env.Data...)
		} else {
			buf = b.appendEnvelope(buf, &env, readAtJSON)
		}
		value := buf[start:len(buf):len(buf)]
		start = len(buf)
		buf = strconv.AppendInt(buf, offset, 10)
		offsetText := buf[start:len(buf):len(buf)]
		hs := len(headers)
		headers = append(headers,
			kafka.Header{Key: HeaderOffset, Value: offsetText},
			kafka.Header{Key: HeaderOffsetSource, Value: sourceHeader},
			kafka.Header{Key: HeaderOperation, Value: headerValues[env.Operation]},
			kafka.Header{Key: HeaderEntityType, Value: headerValues[env.EntityType]},
		)
		if b.cloudEvents {
			headers = b.appendCloudEventHeaders(headers, &env, offsetText, key, readAtJSON)
		}
		h := headers[hs:len(headers):len(headers)]
		out.msgs = append(out.msgs, kafka.Message{Topic: topic, Key: key, Value: value, Headers: h})
		out.published++
		if env.EntityType != schemas.EntityCustomer {
			out.events++
			continue
		}
		out.customers++
		if b.tombstones && env.Operation == schemas.OperationDelete {
			// A null value after the DELETE lets compaction forget the
			// customer; it comes after the envelope, in the same partition.
			out.msgs = append(out.msgs, kafka.Message{Topic: topic, Key: key, Value: nil, Headers: h})
			out.customers++
		}
	}
	// Kept for the next page even if appending outgrew them.
	out.mem.buf, out.mem.headers, out.mem.msgs = buf, headers, out.msgs
	return out
}

// appendCloudEventHeaders appends the binary-mode CloudEvents headers of
// env; offset, subject and at (the time) are bytes of the page's memory, the rest
// shared by every record.
func (b *recordBuilder) appendCloudEventHeaders(hs []kafka.Header, env *schemas.UpdateEnvelope, offset, subject, at []byte) []kafka.Header {
	hs = append(hs,
		kafka.Header{Key: "ce_specversion", Value: cloudEventSpecVersion},
		kafka.Header{Key: "ce_id", Value: offset},
		kafka.Header{Key: "ce_source", Value: b.ceSource},
		kafka.Header{Key: "ce_type", Value: cloudEventTypes[[2]string{env.EntityType, env.Operation}]},
		kafka.Header{Key: "ce_time", Value: at},
		kafka.Header{Key: streams.HeaderContentType, Value: cloudEventContentType},
	)
	if len(subject) > 0 {
		hs = append(hs, kafka.Header{Key: "ce_subject", Value: subject})
	}
	return hs
}

// deadLetter is the dead-letter record of an update at offset (from
// source) that is not published, with why.
func (b *recordBuilder) deadLetter(value []byte, offset int64, source, reason string, err error, readAt time.Time) kafka.Message {
	return kafka.Message{Topic: b.deadLetterTopic, Value: value, Headers: []kafka.Header{
		{Key: HeaderOffset, Value: strconv.AppendInt(nil, offset, 10)},
		{Key: HeaderOffsetSource, Value: headerValues[source]},
		{Key: streams.HeaderDLQError, Value: []byte(err.Error())},
		{Key: streams.HeaderDLQReason, Value: []byte(reason)},
		{Key: streams.HeaderDLQOffset, Value: strconv.AppendInt(nil, offset, 10)},
		{Key: streams.HeaderDLQPipeline, Value: []byte(b.source)},
		{Key: streams.HeaderDLQTime, Value: readAt.UTC().AppendFormat(nil, time.RFC3339)},
	}}
}

// oversized turns the answer of a one-update page that is over the read
// limit (limit bytes), asked after offset after, into records: the update
// goes to the dead-letter topic with its offset and what could be kept of
// it (operation, entity type, the entity's ids), and the stream moves on.
func (b *recordBuilder) oversized(u *oversizedUpdate, after, limit int64, readAt time.Time, skip func(skippedUpdate)) *pageRecords {
	out := &pageRecords{after: after, last: max(after, u.nextOffset)}
	if u.empty {
		return out
	}
	out.updates = 1
	page := &schemas.StreamPage{NextOffset: u.nextOffset, Updates: []schemas.StreamUpdate{{Offset: u.offset, HasOffset: u.hasOffset}}}
	places, source := positions(page, after, nil)
	offset := places[0]
	out.offsetSource = source
	if source == schemas.OffsetSourceUpdate {
		if offset <= after {
			out.skipped = map[string]int{skipRepeated: 1}
			return out
		}
		out.last = max(out.last, offset)
	}
	err := fmt.Errorf("update at offset %d: its data is %d bytes, a page of it alone is over the read limit of %d bytes (max_page_bytes); its data is not kept",
		offset, u.dataBytes, limit)
	out.skipped = map[string]int{skipTooLarge: 1}
	if skip != nil {
		skip(skippedUpdate{offset: offset, reason: skipTooLarge, err: err})
	}
	if b.deadLetterTopic == "" {
		return out
	}
	type keptData struct {
		ID         string `json:"id,omitempty"`
		CustomerID string `json:"customerId,omitempty"`
	}
	var kept struct {
		Operation string `json:"operation"`
		Entity    struct {
			Type string   `json:"type"`
			Data keptData `json:"data"`
		} `json:"entity"`
	}
	kept.Operation, kept.Entity.Type, kept.Entity.Data = u.operation, u.entityType, keptData{u.id, u.customerID}
	value, _ := json.Marshal(&kept)
	out.msgs = []kafka.Message{b.deadLetter(value, offset, source, skipTooLarge, err, readAt)}
	out.deadLettered = 1
	return out
}

// recordMemory is what one page's records are made in. Pages are megabytes
// many times a second; reusing their memory, rather than leaving it to the
// collector, keeps the collector from competing with the produce for CPU
// (it marks the broker's and the sandbox's heaps too, in tests and demos).
type recordMemory struct {
	buf     []byte
	headers []kafka.Header
	msgs    []kafka.Message
}

var recordMemories sync.Pool

func getRecordMemory(bytes, updates, headersPerUpdate int) *recordMemory {
	m, _ := recordMemories.Get().(*recordMemory)
	if m == nil {
		m = &recordMemory{}
	}
	if cap(m.buf) < bytes {
		m.buf = make([]byte, 0, bytes)
	}
	if cap(m.headers) < headersPerUpdate*updates {
		m.headers = make([]kafka.Header, 0, headersPerUpdate*updates)
	}
	if n := updates + updates/8; cap(m.msgs) < n {
		m.msgs = make([]kafka.Message, 0, n)
	}
	m.buf, m.headers, m.msgs = m.buf[:0], m.headers[:0], m.msgs[:0]
	return m
}

// release gives the page's memory back. Call it only once Kafka is done
// with the records: after Produce returned nil (acks=all, nothing in flight
// any more), never after a failed or abandoned Produce.
func (pr *pageRecords) release() {
	if pr.mem == nil {
		return
	}
	clear(pr.mem.msgs) // drop the references into buf until reuse
	recordMemories.Put(pr.mem)
	pr.mem, pr.msgs = nil, nil
}

// envelopeKey returns the Kafka key of env, or why env is not a valid
// envelope. It answers as env.Validate would, at a fraction of the cost, for
// the data of a page that schemas.DecodeStreamPage accepted, which is valid
// JSON already (Validate would check it again): the operation and entity
// type are from their sets, the data is an object, and a customer has a
// non-empty string id. One case needs more than EntityKey can tell: an event
// without a key may be anonymous (valid) or have a customerId that is not a
// string (invalid); Validate decides it. Duplicate member names in data,
// which Validate also rejects and Contacthub's JSON never has, are not
// looked for.
func envelopeKey(env *schemas.UpdateEnvelope) (string, error) {
	switch env.Operation {
	case schemas.OperationCreate, schemas.OperationUpdate, schemas.OperationDelete:
	default:
		return "", env.Validate()
	}
	if len(env.Data) == 0 || env.Data[0] != '{' {
		return "", env.Validate()
	}
	key := env.EntityKey()
	switch env.EntityType {
	case schemas.EntityCustomer:
		if key != "" {
			return key, nil
		}
	case schemas.EntityEvent:
		if key != "" {
			return key, nil
		}
		if err := env.Validate(); err != nil {
			return "", err
		}
		return "", nil
	}
	if err := env.Validate(); err != nil {
		return "", err
	}
	// Validate and EntityKey disagree: a bug here, not in the update.
	return "", errors.New("no key for a valid envelope")
}

// envelopeOverhead bounds what appendEnvelope adds around the data and the
// configured strings: member names, an operation, an entity type, an int64
// offset and an RFC 3339 time with nanoseconds.
const envelopeOverhead = len(`{"operation":"","entityType":"","offset":,"offsetSource":"","workspaceId":,"nodeId":,"data":,"readAt":""}`) + 6 + 8 + 20 + 6 + 35 + 20

// appendEnvelope writes env as json.Marshal would (members in the same
// order, data as it came), but without reflection or re-compacting data,
// which json.Valid already checked when the page was decoded. Only strings
// from closed sets (operation, entity type, once validated, and the offset
// source) and strings encoded at construction are written unescaped.
func (b *recordBuilder) appendEnvelope(dst []byte, env *schemas.UpdateEnvelope, readAtJSON []byte) []byte {
	dst = append(dst, `{"operation":"`...)
	dst = append(dst, env.Operation...)
	dst = append(dst, `","entityType":"`...)
	dst = append(dst, env.EntityType...)
	dst = append(dst, `","offset":`...)
	dst = strconv.AppendInt(dst, env.Offset, 10)
	dst = append(dst, `,"offsetSource":"`...)
	dst = append(dst, env.OffsetSource...)
	dst = append(dst, `","workspaceId":`...)
	dst = append(dst, b.workspaceJSON...)
	if b.nodeJSON != nil {
		dst = append(dst, `,"nodeId":`...)
		dst = append(dst, b.nodeJSON...)
	}
	dst = append(dst, `,"data":`...)
	dst = append(dst, env.Data...)
	dst = append(dst, `,"readAt":"`...)
	dst = append(dst, readAtJSON...)
	return append(dst, `"}`...)
}
