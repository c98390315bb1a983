// Package orders is the e-commerce example: the shop's OrderPlaced domain
// event, the mappings that turn it into a Contacthub completedOrder event
// (completed_order.jq) and UPS segment updates (ups_segments.jq), and a
// generator of realistic orders for the demo, the tests and the benchmarks.
package orders

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"
)

// EventType is the CloudEvents type the shop publishes OrderPlaced with.
const EventType = "com.example.shop.order.placed"

// Source is the CloudEvents source of the shop's order events.
const Source = "/shop/orders"

// The mappings of connector.yaml, embedded for the demo and the tests.
var (
	//go:embed completed_order.jq
	CompletedOrderMapping string
	//go:embed ups_segments.jq
	SegmentsMapping string
)

// OrderPlaced is the shop's event for an order the customer confirmed.
type OrderPlaced struct {
	Type          string    `json:"type"`
	OrderID       string    `json:"orderId"`
	PlacedAt      time.Time `json:"placedAt"`
	StoreCode     string    `json:"storeCode"`
	Channel       string    `json:"channel"` // web, app, store
	Currency      string    `json:"currency"`
	PaymentMethod string    `json:"paymentMethod"`
	Customer      Customer  `json:"customer"`
	// GiftRecipient, when the order is a gift for another customer.
	GiftRecipient *Customer `json:"giftRecipient,omitempty"`
	Totals        Totals    `json:"totals"`
	Lines         []Line    `json:"lines"`
	// Test marks an order of the shop's own tests: never for the APIs.
	Test bool `json:"test,omitempty"`
}

// Customer is who placed (or receives) an order, by the shop's own id.
type Customer struct {
	ExternalID string `json:"externalId,omitempty"`
	Email      string `json:"email,omitempty"`
}

// Totals are the order's amounts in its currency.
type Totals struct {
	Total    float64 `json:"total"`
	Revenue  float64 `json:"revenue"`
	Shipping float64 `json:"shipping"`
	Tax      float64 `json:"tax"`
	Discount float64 `json:"discount,omitempty"`
}

// Line is one product of an order.
type Line struct {
	SKU       string  `json:"sku"`
	Name      string  `json:"name"`
	Category  string  `json:"category"`
	UnitPrice float64 `json:"unitPrice"`
	Quantity  int     `json:"quantity"`
}

// Validate is the shop's own rule for an order it may publish: the checks
// a producer makes before sending (streams.Publisher calls it).
func (o OrderPlaced) Validate() error {
	var errs []error
	if o.Type != "OrderPlaced" {
		errs = append(errs, fmt.Errorf("type: %q is not OrderPlaced", o.Type))
	}
	if o.OrderID == "" {
		errs = append(errs, errors.New("orderId: is required"))
	}
	if o.PlacedAt.IsZero() {
		errs = append(errs, errors.New("placedAt: is required"))
	}
	if o.Customer.ExternalID == "" {
		errs = append(errs, errors.New("customer.externalId: is required (Contacthub brings the order back to the customer by it)"))
	}
	if len(o.Currency) != 3 || strings.ToUpper(o.Currency) != o.Currency {
		errs = append(errs, fmt.Errorf("currency: %q is not an ISO 4217 code", o.Currency))
	}
	if len(o.Lines) == 0 {
		errs = append(errs, errors.New("lines: an order has at least one line"))
	}
	for i, l := range o.Lines {
		if l.SKU == "" || l.Quantity < 1 {
			errs = append(errs, fmt.Errorf("lines[%d]: needs a sku and a quantity of at least 1", i))
		}
	}
	return errors.Join(errs...)
}

// Key is the Kafka key of an order: its customer, so that one customer's
// orders stay in order on one partition.
func (o OrderPlaced) Key() string { return o.Customer.ExternalID }
