package contacthub

import "strconv"

// The entities of the update stream, shaped as the reference's Get customer
// and Get event answers (the fields the connector may read, not all of them).

type customerData struct {
	ID           string           `json:"id"`
	NodeID       string           `json:"nodeId"`
	ExternalID   string           `json:"externalId"`
	Base         customerBase     `json:"base"`
	Consents     customerConsents `json:"consents"`
	Tags         customerTags     `json:"tags"`
	Enabled      bool             `json:"enabled"`
	RegisteredAt string           `json:"registeredAt"`
	UpdatedAt    string           `json:"updatedAt"`
}

type customerBase struct {
	FirstName string           `json:"firstName"`
	LastName  string           `json:"lastName"`
	Gender    string           `json:"gender"`
	Dob       string           `json:"dob"`
	Locale    string           `json:"locale"`
	Timezone  string           `json:"timezone"`
	Contacts  customerContacts `json:"contacts"`
	Address   customerAddress  `json:"address"`
}

type customerContacts struct {
	Email       string `json:"email"`
	MobilePhone string `json:"mobilePhone"`
}

type customerAddress struct {
	Street  string `json:"street"`
	City    string `json:"city"`
	Country string `json:"country"`
	Zip     string `json:"zip"`
}

type customerConsents struct {
	Disclaimer consentDisclaimer `json:"disclaimer"`
	Marketing  struct {
		Automatic struct {
			Email consentStatus `json:"email"`
		} `json:"automatic"`
	} `json:"marketing"`
}

type consentDisclaimer struct {
	Date    string `json:"date"`
	Version string `json:"version"`
}

type consentStatus struct {
	Status     bool `json:"status"`
	Limitation bool `json:"limitation"`
	Objection  bool `json:"objection"`
}

type customerTags struct {
	Auto   []string `json:"auto"`
	Manual []string `json:"manual"`
}

type deletedCustomer struct {
	ID     string `json:"id"`
	NodeID string `json:"nodeId"`
}

type eventData struct {
	ID           string `json:"id"`
	CustomerID   string `json:"customerId"`
	Type         string `json:"type"`
	Context      string `json:"context"`
	Properties   any    `json:"properties"`
	Date         string `json:"date"`
	Origin       string `json:"origin"`
	RegisteredAt string `json:"registeredAt"`
	UpdatedAt    string `json:"updatedAt"`
	Version      int    `json:"version"`
}

type deletedEvent struct {
	ID         string `json:"id"`
	CustomerID string `json:"customerId"`
}

// eventKind is an event type the generator produces, with the context it
// happens in and the properties it carries.
type eventKind struct {
	typ        string
	context    string
	properties func(g *generator) any
}

var eventKinds = []eventKind{
	{"viewedPage", "WEB", func(g *generator) any {
		p := pages[g.rng.IntN(len(pages))]
		return map[string]any{"title": p, "url": "https://shop.example.com/" + p, "path": "/" + p}
	}},
	{"viewedProduct", "ECOMMERCE", func(g *generator) any {
		return map[string]any{"id": g.productID(), "name": products[g.rng.IntN(len(products))], "price": g.price()}
	}},
	{"addedProduct", "ECOMMERCE", func(g *generator) any {
		return map[string]any{"id": g.productID(), "name": products[g.rng.IntN(len(products))], "price": g.price(), "quantity": 1 + g.rng.IntN(3)}
	}},
	{"completedOrder", "RETAIL", func(g *generator) any {
		total := g.price()
		return map[string]any{
			"orderId": g.productID(),
			"type":    "sale",
			"amount":  map[string]any{"total": total, "revenue": total * 0.78, "currency": "EUR"},
		}
	}},
	{"searched", "WEB", func(g *generator) any {
		return map[string]any{"keyword": products[g.rng.IntN(len(products))]}
	}},
	{"loggedIn", "MOBILE", func(g *generator) any { return map[string]any{} }},
	{"campaignOpened", "DIGITAL_CAMPAIGN", func(g *generator) any {
		return map[string]any{"channel": "EMAIL", "campaignId": g.productID()}
	}},
}

func (g *generator) productID() string {
	return string(rune('A'+g.rng.IntN(26))) + strconv.Itoa(100000+g.rng.IntN(900000))
}

// price is a realistic amount in cents precision.
func (g *generator) price() float64 { return float64(199+g.rng.IntN(49_800)) / 100 }

var (
	firstNames = []string{"Giulia", "Marco", "Francesca", "Luca", "Sara", "Andrea", "Chiara", "Matteo", "Elena", "Davide", "Martina", "Simone", "Alessia", "Federico", "Valentina"}
	lastNames  = []string{"Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Costa"}
	cities     = []struct{ name, zip string }{{"Milano", "20121"}, {"Roma", "00184"}, {"Torino", "10121"}, {"Napoli", "80132"}, {"Bologna", "40121"}, {"Firenze", "50122"}, {"Genova", "16121"}, {"Verona", "37121"}}
	tags       = []string{"vip", "newsletter", "loyalty-gold", "loyalty-silver", "b2b", "churn-risk"}
	pages      = []string{"home", "offers", "new-arrivals", "account", "cart", "stores", "help"}
	products   = []string{"sneakers", "backpack", "rain jacket", "wool scarf", "leather belt", "sunglasses", "t-shirt", "jeans"}
)
