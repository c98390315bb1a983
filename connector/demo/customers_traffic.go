package demo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/contactlab/connector/schemas"
)

// CustomersTraffic makes the changes a shop's customer database publishes
// about its customers, one schemas.CustomerRecord per change, keyed by the
// customer's externalId so that a customer's changes stay in order on one
// partition: a create (an upsert under Contacthub's MERGE policy) when a
// customer registers or is synchronised again, patches of the profile, and
// sessions as customers log in. A share of them is deliberately invalid, in
// the ways real producers get it wrong.
//
// Patches and sessions name the customer by Contacthub's id, which only
// Contacthub knows: Resolve looks it up (the demo asks the sandbox). A
// customer whose id is not known yet only gets creates.
type CustomersTraffic struct {
	rnd       *rand.Rand
	nodeID    string
	customers []customerProfile
	// Resolve returns Contacthub's id of the customer with externalID, or
	// "" while there is none; nil knows none.
	Resolve func(externalID string) string
	// InvalidShare is the share (0..1) of invalid records; default 0.01.
	InvalidShare float64
	seq          int64
}

type customerProfile struct {
	externalID, firstName, lastName, email, city, zip string
}

var (
	customerFirstNames = []string{"Giulia", "Marco", "Francesca", "Luca", "Sara", "Andrea", "Chiara", "Matteo", "Elena", "Davide"}
	customerLastNames  = []string{"Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco"}
	customerCities     = []struct{ name, zip string }{{"Milano", "20121"}, {"Roma", "00184"}, {"Torino", "10121"}, {"Napoli", "80132"}, {"Bologna", "40121"}}
	customerTags       = []string{"vip", "newsletter", "loyalty-gold", "loyalty-silver", "b2b", "churn-risk", "app-user"}
	customerLocales    = []string{"it_IT", "en_GB", "fr_FR", "de_DE"}
)

// NewCustomersTraffic returns a generator for customers customers of the
// entry node nodeID. The same seed gives the same customers and changes.
func NewCustomersTraffic(seed uint64, customers int, nodeID string) *CustomersTraffic {
	rnd := rand.New(rand.NewPCG(seed, seed^0xbb67ae8584caa73b))
	g := &CustomersTraffic{rnd: rnd, nodeID: nodeID, InvalidShare: 0.01}
	for i := range max(customers, 1) {
		first := customerFirstNames[rnd.IntN(len(customerFirstNames))]
		last := customerLastNames[rnd.IntN(len(customerLastNames))]
		city := customerCities[rnd.IntN(len(customerCities))]
		g.customers = append(g.customers, customerProfile{
			externalID: fmt.Sprintf("CRM-%06d", 100000+i),
			firstName:  first,
			lastName:   last,
			email:      strings.ToLower(first+"."+last) + strconv.Itoa(i) + "@example.com",
			city:       city.name,
			zip:        city.zip,
		})
	}
	return g
}

// Next returns the next record's key (the customer's externalId), its
// value, and whether it is valid by the customer-record schema.
func (g *CustomersTraffic) Next() (key, value []byte, valid bool) {
	g.seq++
	r := g.rnd
	c := g.customers[r.IntN(len(g.customers))]
	key = []byte(c.externalID)
	id := ""
	if g.Resolve != nil {
		id = g.Resolve(c.externalID)
	}
	rec := map[string]any{}
	// extra carries the sequence, so every body is unique and the sandbox
	// can tell a duplicate delivery from two equal changes.
	marker := "seq-" + strconv.FormatInt(g.seq, 10)
	switch k := r.IntN(10); {
	case id == "" || k < 3:
		rec["operation"] = schemas.CustomerOpCreate
		rec["customer"] = g.createBody(c, marker)
	case k < 7:
		rec["operation"] = schemas.CustomerOpPatch
		rec["customerId"] = id
		rec["customer"] = g.patchBody(marker)
	default:
		rec["operation"] = schemas.CustomerOpSession
		rec["customerId"] = id
		rec["session"] = map[string]any{"value": fmt.Sprintf("sess-%08x-%d", r.Uint32(), g.seq)}
	}
	valid = true
	if r.Float64() < g.InvalidShare {
		valid = false
		if g.spoil(rec) {
			return key, []byte(`{"operation":"create","customer":{"nodeId":`), false // truncated JSON
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		panic(err) // only maps of strings, numbers and booleans are encoded
	}
	return key, b, valid
}

func (g *CustomersTraffic) createBody(c customerProfile, marker string) map[string]any {
	r := g.rnd
	return map[string]any{
		"nodeId":     g.nodeID,
		"externalId": c.externalID,
		"base": map[string]any{
			"firstName": c.firstName,
			"lastName":  c.lastName,
			"locale":    customerLocales[r.IntN(len(customerLocales))],
			"contacts":  map[string]any{"email": c.email},
			"address":   map[string]any{"street": fmt.Sprintf("Via Roma %d", 1+r.IntN(200)), "city": c.city, "zip": c.zip, "country": "IT"},
		},
		"consents": map[string]any{
			"disclaimer": map[string]any{"date": "2026-01-15T10:00:00Z", "version": "v3"},
			"marketing":  map[string]any{"automatic": map[string]any{"email": map[string]any{"status": r.IntN(2) == 0, "limitation": false, "objection": false}}},
		},
		"tags":  map[string]any{"manual": g.someTags()},
		"extra": marker,
	}
}

func (g *CustomersTraffic) patchBody(marker string) map[string]any {
	r := g.rnd
	body := map[string]any{"extra": marker}
	switch r.IntN(3) {
	case 0:
		body["base"] = map[string]any{"contacts": map[string]any{"mobilePhone": fmt.Sprintf("+39 3%02d %07d", r.IntN(100), r.IntN(10_000_000))}}
	case 1:
		body["tags"] = map[string]any{"auto": g.someTags()}
	default:
		body["base"] = map[string]any{"address": map[string]any{"street": fmt.Sprintf("Corso Italia %d", 1+r.IntN(300))}}
		body["enabled"] = true
	}
	return body
}

func (g *CustomersTraffic) someTags() []string {
	n := 1 + g.rnd.IntN(3)
	tags := make([]string, 0, n)
	for range n {
		tags = append(tags, customerTags[g.rnd.IntN(len(customerTags))])
	}
	return tags
}

// spoil breaks rec the way a producer would, or reports that the record
// should be cut short instead.
func (g *CustomersTraffic) spoil(rec map[string]any) (truncate bool) {
	body, _ := rec["customer"].(map[string]any)
	switch k := g.rnd.IntN(6); {
	case k == 0:
		return true
	case k == 1:
		rec["operation"] = "upsert" // not an operation
	case body == nil:
		rec["session"] = map[string]any{"value": ""} // an empty session value
	case k == 2:
		// A street pasted with its notes: over the 500 characters allowed.
		body["base"] = map[string]any{"address": map[string]any{"street": strings.Repeat("Via Roma 1, scala B, interno 4. ", 16)}}
	case k == 3:
		// Every tag of the catalogue: over the 1000 characters a list holds.
		body["tags"] = map[string]any{"manual": strings.Split(strings.Repeat("loyalty-gold-2026,", 60), ",")}
	case rec["operation"] == schemas.CustomerOpCreate:
		delete(body, "nodeId") // the entry node is required
	default:
		body["nodeId"] = g.nodeID // immutable in a patch
	}
	return false
}
