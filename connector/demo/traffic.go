package demo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
)

// EventTraffic makes realistic web and e-commerce events as applications
// publish them: page and product views, carts, orders, searches, logins, for
// a pool of known customers and of anonymous sessions. A share of them is
// deliberately invalid, in the ways real producers get it wrong.
type EventTraffic struct {
	rnd          *rand.Rand
	customers    []string
	nodeID       string
	InvalidShare float64
	// Now is the clock the events' dates are drawn back from (the hour
	// before it); nil is time.Now. A fixed one makes a seed's events the
	// same to the byte.
	Now func() time.Time
	seq int64
}

// NewEventTraffic returns a generator with customers known customers.
func NewEventTraffic(seed uint64, customers int, nodeID string) *EventTraffic {
	rnd := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &EventTraffic{rnd: rnd, nodeID: nodeID, InvalidShare: 0.01}
	for range customers {
		g.customers = append(g.customers, uuidFrom(rnd))
	}
	return g
}

func uuidFrom(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	u, _ := uuid.FromBytes(b[:])
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return u.String()
}

type eventBody struct {
	CustomerID          string         `json:"customerId,omitempty"`
	BringBackProperties map[string]any `json:"bringBackProperties,omitempty"`
	Type                string         `json:"type"`
	Context             string         `json:"context"`
	Properties          map[string]any `json:"properties"`
	ContextInfo         map[string]any `json:"contextInfo,omitempty"`
	Date                string         `json:"date,omitempty"`
	Tracking            map[string]any `json:"tracking,omitempty"`
}

var (
	webTypes   = []string{"viewedPage", "viewedPage", "viewedPage", "viewedProduct", "viewedProduct", "viewedProductCategory", "searched", "loggedIn", "loggedOut", "clickedLink", "formCompiled"}
	shopTypes  = []string{"addedProduct", "removedProduct", "addedWishlist", "completedOrder", "abandonedCart", "reviewedProduct", "orderShipped"}
	pages      = []string{"/", "/sale", "/women/shoes", "/men/jackets", "/kids", "/checkout", "/account", "/stores"}
	products   = []string{"SKU-1001", "SKU-1002", "SKU-2040", "SKU-3300", "SKU-4711", "SKU-5120", "SKU-6001", "SKU-7777"}
	searchTerm = []string{"running shoes", "rain jacket", "gift card", "sneakers 42", "wool scarf"}
)

// Next returns the next event's key (the customer or session, so one
// customer's events stay in order on one partition), its value, and whether it
// is valid.
func (g *EventTraffic) Next() (key, value []byte, valid bool) {
	g.seq++
	r := g.rnd
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	e := eventBody{Date: now().UTC().Add(-time.Duration(r.IntN(3600)) * time.Second).Format(time.RFC3339)}
	if r.IntN(10) < 7 {
		e.Type = webTypes[r.IntN(len(webTypes))]
		e.Context = "WEB"
		if r.IntN(5) == 0 {
			e.Context = "MOBILE"
		}
	} else {
		e.Type = shopTypes[r.IntN(len(shopTypes))]
		e.Context = "ECOMMERCE"
	}
	var who string
	if r.IntN(4) == 0 {
		who = fmt.Sprintf("sess-%08x", r.Uint32())
		e.BringBackProperties = map[string]any{"type": "SESSION_ID", "value": who, "nodeId": g.nodeID}
	} else {
		who = g.customers[r.IntN(len(g.customers))]
		e.CustomerID = who
	}
	// seq makes every body unique, so the sandbox can tell duplicates from
	// two equal events.
	props := map[string]any{"seq": g.seq}
	switch e.Type {
	case "viewedPage":
		props["url"] = "https://shop.example.com" + pages[r.IntN(len(pages))]
		props["title"] = "Example Shop"
	case "viewedProduct", "addedProduct", "removedProduct", "addedWishlist", "reviewedProduct":
		props["id"] = products[r.IntN(len(products))]
		props["price"] = float64(r.IntN(20000)) / 100
		props["currency"] = "EUR"
	case "completedOrder", "orderShipped", "abandonedCart":
		n := 1 + r.IntN(4)
		var lines []map[string]any
		total := 0.0
		for range n {
			p := float64(r.IntN(20000)) / 100
			total += p
			lines = append(lines, map[string]any{"id": products[r.IntN(len(products))], "price": p, "quantity": 1})
		}
		props["orderId"] = fmt.Sprintf("ORD-%d", g.seq)
		props["products"] = lines
		props["amount"] = map[string]any{"total": total, "currency": "EUR"}
	case "searched":
		props["keyword"] = searchTerm[r.IntN(len(searchTerm))]
	}
	e.Properties = props
	if e.Context == "WEB" {
		e.ContextInfo = map[string]any{"client": map[string]any{"userAgent": "Mozilla/5.0", "ip": "203.0.113.7"}}
		if r.IntN(3) == 0 {
			e.Tracking = map[string]any{"ga": map[string]any{"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "winter"}}
		}
	}
	valid = true
	if r.Float64() < g.InvalidShare {
		valid = false
		switch r.IntN(5) {
		case 0:
			e.Type = "viewed_page" // not an EventType
		case 1:
			e.Context = "" // missing context
		case 2:
			e.CustomerID = "not-a-uuid"
			e.BringBackProperties = nil
		case 3:
			e.CustomerID = g.customers[0]
			e.BringBackProperties = map[string]any{"type": "SESSION_ID", "value": "x", "nodeId": g.nodeID} // both
		case 4:
			return []byte(who), []byte(`{"type":"viewedPage","context":"WEB",`), false // truncated JSON
		}
	}
	b, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	return []byte(who), b, valid
}
