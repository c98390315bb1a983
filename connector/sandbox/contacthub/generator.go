package contacthub

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// generator invents the life of the workspace's customers: they are created,
// updated and deleted, and their events are created, updated and deleted.
// It keeps just enough state for every change to be consistent with the ones
// before it (an update is of a live customer, an event belongs to one), since
// the connector's stream source is tested against exactly that.
type generator struct {
	mu        sync.Mutex // serialises changes, so the log's order is the store's order
	node      string
	rng       *rand.Rand
	customers []*customerData
	byID      map[string]int // customer id -> position in customers
	// events are the recent events, the only ones updated or deleted later:
	// remembering every event would grow without bound.
	events    []*eventData
	nextEvent int
	serial    int64 // numbers external ids and emails, so they are unique
}

// maxTrackedEvents bounds generator.events.
const maxTrackedEvents = 10_000

// appendBatch is how many changes go to the log under one lock, so a large
// AppendUpdates does not stall readers of the stream for its whole duration.
const appendBatch = 1024

func newGenerator(node string, seed uint64) *generator {
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &generator{
		node: node,
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		byID: make(map[string]int),
	}
}

// seedCustomers fills the store with n customers; their CREATE updates are
// the start of the log.
func (g *generator) seedCustomers(s *Server, n int) {
	g.generate(s, n, func() change { return g.createCustomer(s.now()) })
}

// AppendUpdates appends n generated changes to the update log at once.
func (s *Server) AppendUpdates(n int) {
	s.gen.generate(s, n, func() change { return s.gen.next(s.now()) })
}

// Run generates Config.ChangesPerSecond changes per second until ctx ends.
// It returns at once when the rate is 0. Call it once.
func (s *Server) Run(ctx context.Context) {
	rate := s.cfg.ChangesPerSecond
	if rate <= 0 {
		return
	}
	// Changes are due by elapsed time, not by tick count, so a fractional
	// rate is honoured and a late tick catches up instead of drifting.
	interval := min(time.Second, max(10*time.Millisecond, time.Duration(float64(time.Second)/rate)))
	t := time.NewTicker(interval)
	defer t.Stop()
	// After a stall (a suspended laptop, a debugger) at most one second's
	// worth is made up; the rest is skipped rather than dumped at once.
	catchUp := max(1, int64(rate))
	start := time.Now()
	var done int64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			due := int64(now.Sub(start).Seconds()*rate) - done
			if due <= 0 {
				continue
			}
			done += due
			s.AppendUpdates(int(min(due, catchUp)))
		}
	}
}

func (g *generator) generate(s *Server, n int, next func() change) {
	g.mu.Lock()
	defer g.mu.Unlock()
	batch := make([]change, 0, min(n, appendBatch))
	for n > 0 {
		batch = batch[:0]
		for range min(n, appendBatch) {
			batch = append(batch, next())
		}
		s.log.append(batch)
		n -= len(batch)
	}
}

// next picks the next change by a fixed mix: mostly events and customer
// updates, some creations, a few deletions, so the customer base grows
// slowly, as a real one does.
func (g *generator) next(now time.Time) change {
	r := g.rng.IntN(100)
	switch {
	case len(g.customers) == 0 || r < 15:
		return g.createCustomer(now)
	case r < 40:
		return g.updateCustomer(now)
	case r < 45:
		return g.deleteCustomer(now)
	case r < 85:
		return g.createEvent(now)
	case r < 95:
		if c, ok := g.updateEvent(now); ok {
			return c
		}
		return g.createEvent(now)
	default:
		if c, ok := g.deleteEvent(now); ok {
			return c
		}
		return g.createEvent(now)
	}
}

func (g *generator) createCustomer(now time.Time) change {
	g.serial++
	first := firstNames[g.rng.IntN(len(firstNames))]
	last := lastNames[g.rng.IntN(len(lastNames))]
	city := cities[g.rng.IntN(len(cities))]
	ts := timestamp(now)
	c := &customerData{
		ID:         g.uuid(),
		NodeID:     g.node,
		ExternalID: fmt.Sprintf("CRM-%08d", g.serial),
		Base: customerBase{
			FirstName: first,
			LastName:  last,
			Gender:    []string{"female", "male"}[g.rng.IntN(2)],
			Dob:       fmt.Sprintf("%04d-%02d-%02d", 1950+g.rng.IntN(55), 1+g.rng.IntN(12), 1+g.rng.IntN(28)),
			Locale:    "it_IT",
			Timezone:  "Europe/Rome",
			Contacts: customerContacts{
				Email:       fmt.Sprintf("%s.%s.%d@example.com", strings.ToLower(first), strings.ToLower(last), g.serial),
				MobilePhone: fmt.Sprintf("+39 3%02d %07d", g.rng.IntN(100), g.rng.IntN(10_000_000)),
			},
			Address: customerAddress{
				Street:  fmt.Sprintf("Via %s %d", lastNames[g.rng.IntN(len(lastNames))], 1+g.rng.IntN(200)),
				City:    city.name,
				Country: "IT",
				Zip:     city.zip,
			},
		},
		Consents: customerConsents{
			Disclaimer: consentDisclaimer{Date: ts, Version: "v2.1"},
		},
		Tags:         customerTags{Auto: []string{}, Manual: []string{}},
		Enabled:      true,
		RegisteredAt: ts,
		UpdatedAt:    ts,
	}
	c.Consents.Marketing.Automatic.Email = consentStatus{Status: g.rng.IntN(3) > 0}
	g.byID[c.ID] = len(g.customers)
	g.customers = append(g.customers, c)
	return g.customerChange(operationCreate, now, mustJSON(c))
}

func (g *generator) updateCustomer(now time.Time) change {
	c := g.customers[g.rng.IntN(len(g.customers))]
	switch g.rng.IntN(4) {
	case 0:
		c.Base.Contacts.Email = fmt.Sprintf("%s.%d@example.org", strings.ToLower(c.Base.FirstName), g.rng.IntN(1_000_000))
	case 1:
		city := cities[g.rng.IntN(len(cities))]
		c.Base.Address.City, c.Base.Address.Zip = city.name, city.zip
	case 2:
		c.Base.LastName = lastNames[g.rng.IntN(len(lastNames))]
	default:
		c.Tags.Manual = append(c.Tags.Manual[:0:0], tags[g.rng.IntN(len(tags))])
	}
	c.UpdatedAt = timestamp(now)
	return g.customerChange(operationUpdate, now, mustJSON(c))
}

func (g *generator) deleteCustomer(now time.Time) change {
	i := g.rng.IntN(len(g.customers))
	c := g.customers[i]
	last := len(g.customers) - 1
	g.customers[i] = g.customers[last]
	g.byID[g.customers[i].ID] = i
	g.customers[last] = nil
	g.customers = g.customers[:last]
	delete(g.byID, c.ID)
	// The real stream carries little more than the id of what is gone.
	return g.customerChange(operationDelete, now, mustJSON(deletedCustomer{ID: c.ID, NodeID: c.NodeID}))
}

func (g *generator) customerChange(op string, now time.Time, data []byte) change {
	return change{operation: op, kind: kindCustomer, node: g.node, millis: now.UnixMilli(), data: data}
}

func (g *generator) createEvent(now time.Time) change {
	if len(g.customers) == 0 {
		return g.createCustomer(now)
	}
	c := g.customers[g.rng.IntN(len(g.customers))]
	kind := eventKinds[g.rng.IntN(len(eventKinds))]
	ts := timestamp(now)
	e := &eventData{
		ID:           g.uuid(),
		CustomerID:   c.ID,
		Type:         kind.typ,
		Context:      kind.context,
		Properties:   kind.properties(g),
		Date:         ts,
		Origin:       "NATIVE",
		RegisteredAt: ts,
		UpdatedAt:    ts,
	}
	if len(g.events) < maxTrackedEvents {
		g.events = append(g.events, e)
	} else {
		g.events[g.nextEvent] = e
		g.nextEvent = (g.nextEvent + 1) % maxTrackedEvents
	}
	return g.eventChange(operationCreate, now, mustJSON(e))
}

// liveEvent picks a tracked event whose customer still exists, forgetting
// the ones whose customer was deleted: their events went with them.
func (g *generator) liveEvent() (int, *eventData, bool) {
	for range 8 {
		if len(g.events) == 0 {
			return 0, nil, false
		}
		i := g.rng.IntN(len(g.events))
		e := g.events[i]
		if e != nil {
			if _, ok := g.byID[e.CustomerID]; ok {
				return i, e, true
			}
		}
		g.events[i] = nil
	}
	return 0, nil, false
}

func (g *generator) updateEvent(now time.Time) (change, bool) {
	_, e, ok := g.liveEvent()
	if !ok {
		return change{}, false
	}
	for _, k := range eventKinds {
		if k.typ == e.Type {
			e.Properties = k.properties(g)
			break
		}
	}
	e.UpdatedAt = timestamp(now)
	e.Version++
	return g.eventChange(operationUpdate, now, mustJSON(e)), true
}

func (g *generator) deleteEvent(now time.Time) (change, bool) {
	i, e, ok := g.liveEvent()
	if !ok {
		return change{}, false
	}
	g.events[i] = nil
	return g.eventChange(operationDelete, now, mustJSON(deletedEvent{ID: e.ID, CustomerID: e.CustomerID})), true
}

func (g *generator) eventChange(op string, now time.Time, data []byte) change {
	// Events live in the node of their customer.
	return change{operation: op, kind: kindEvent, node: g.node, millis: now.UnixMilli(), data: data}
}

// uuid draws a version 4 uuid from the seeded source, so a seeded run
// produces the same ids every time.
func (g *generator) uuid() string {
	var u uuid.UUID
	a, b := g.rng.Uint64(), g.rng.Uint64()
	for i := range 8 {
		u[i] = byte(a >> (8 * i))
		u[8+i] = byte(b >> (8 * i))
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u.String()
}

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only this package's types are encoded; failing is a bug here.
		panic(fmt.Sprintf("contacthub sandbox: encoding %T: %v", v, err))
	}
	return b
}
