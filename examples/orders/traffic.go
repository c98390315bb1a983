package orders

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Kind says what the connector should make of a generated order.
type Kind int

const (
	// Valid: a completedOrder event and segment updates.
	Valid Kind = iota
	// TestTraffic: filtered by both mappings.
	TestTraffic
	// NoCustomer: no external id; dead-lettered (a mapping error for the
	// events sink, an invalid record for UPS).
	NoCustomer
)

// Traffic makes realistic orders of a pool of customers: one to four
// lines, a share of gifts (two segment records), of the shop's test
// orders and of orders that lost their customer id.
type Traffic struct {
	rnd       *rand.Rand
	customers int
	seq       int
	// GiftShare, TestShare and NoCustomerShare are shares of the orders.
	GiftShare, TestShare, NoCustomerShare float64
	// Start is the time of the first order; they are a second apart.
	Start time.Time
}

// NewTraffic returns a generator over customers customers.
func NewTraffic(seed uint64, customers int) *Traffic {
	return &Traffic{rnd: rand.New(rand.NewPCG(seed, seed^0x5eed)), customers: customers,
		GiftShare: 0.15, TestShare: 0.03, NoCustomerShare: 0.01,
		Start: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
}

var catalogue = []Line{
	{SKU: "SHOE-42-RED", Name: "Runner Red", Category: "shoes", UnitPrice: 89.90},
	{SKU: "SHOE-39-WHT", Name: "Court White", Category: "shoes", UnitPrice: 74.50},
	{SKU: "JKT-M-BLK", Name: "Shell Jacket", Category: "outerwear", UnitPrice: 675.00},
	{SKU: "JKT-S-GRN", Name: "Rain Jacket", Category: "outerwear", UnitPrice: 149.00},
	{SKU: "SOCK-3P", Name: "Socks 3-pack", Category: "accessories", UnitPrice: 17.45},
	{SKU: "CAP-1", Name: "Cap", Category: "accessories", UnitPrice: 20.00},
	{SKU: "TEE-L-NVY", Name: "Tee Navy", Category: "tops", UnitPrice: 29.00},
}

var (
	channels = []string{"web", "web", "web", "app", "store"}
	payments = []string{"credit_card", "credit_card", "paypal", "apple_pay", "cash"}
)

// Order returns the next order and what the connector should make of it.
func (g *Traffic) Order() (OrderPlaced, Kind) {
	g.seq++
	r := g.rnd
	o := OrderPlaced{
		Type:          "OrderPlaced",
		OrderID:       fmt.Sprintf("ORD-%07d", g.seq),
		PlacedAt:      g.Start.Add(time.Duration(g.seq) * time.Second),
		Channel:       channels[r.IntN(len(channels))],
		Currency:      "EUR",
		PaymentMethod: payments[r.IntN(len(payments))],
		Customer:      customer(r.IntN(g.customers)),
	}
	o.StoreCode = "web-it"
	if o.Channel == "store" {
		o.StoreCode = fmt.Sprintf("store-%02d", 1+r.IntN(12))
	}
	var total float64
	for range 1 + r.IntN(4) {
		l := catalogue[r.IntN(len(catalogue))]
		l.Quantity = 1 + r.IntN(3)
		total += l.UnitPrice * float64(l.Quantity)
		o.Lines = append(o.Lines, l)
	}
	shipping := 0.0
	if total < 50 {
		shipping = 5
	}
	total = round2(total + shipping)
	o.Totals = Totals{Total: total, Shipping: shipping, Tax: round2(total - total/1.22), Revenue: round2(total / 1.22)}
	kind := Valid
	switch x := r.Float64(); {
	case x < g.TestShare:
		o.Test = true
		kind = TestTraffic
	case x < g.TestShare+g.NoCustomerShare:
		o.Customer.ExternalID = ""
		kind = NoCustomer
	case x < g.TestShare+g.NoCustomerShare+g.GiftShare:
		// Gift recipients are customers of their own, one per gift, so
		// each holds the one segment update made for them.
		o.GiftRecipient = &Customer{ExternalID: fmt.Sprintf("GIFT-%07d", g.seq)}
	}
	return o, kind
}

// Next returns the next order as a Kafka key and value.
func (g *Traffic) Next() (key, value []byte, kind Kind) {
	o, kind := g.Order()
	v, err := json.Marshal(o)
	if err != nil {
		panic(err) // plain structs always encode
	}
	return []byte(o.Key()), v, kind
}

func customer(i int) Customer {
	return Customer{ExternalID: fmt.Sprintf("CRM-%06d", 10000+i), Email: fmt.Sprintf("customer%d@shop.example.com", i)}
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }
