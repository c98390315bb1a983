package demo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
)

// CategorizationTraffic makes EnableNow categorization requests as
// applications publish them when they learn a user can be categorized: a
// consent granted in the AppScreen (consentId), a known EnableNow user
// (userId), a user known by the application's own id (externalUserId), or
// linked accounts (accountIds). Most leave engine, profile and countryCode
// to their defaults, some spell them out, some write every field with nulls.
// A share of them is deliberately invalid, each breaking one rule of the
// reference the way producers get it wrong.
type CategorizationTraffic struct {
	rnd *rand.Rand
	// users and accounts are pools, so one user is categorized again now
	// and then, as happens when consent is renewed.
	users    []string
	accounts []string
	// InvalidShare is the share (0..1) of requests that break a rule.
	InvalidShare float64
	seq          int64
}

// NewCategorizationTraffic returns a generator whose sequence depends only on
// seed.
func NewCategorizationTraffic(seed uint64) *CategorizationTraffic {
	rnd := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	g := &CategorizationTraffic{rnd: rnd, InvalidShare: 0.02}
	for range 300 {
		g.users = append(g.users, uuidFrom(rnd))
	}
	for range 500 {
		g.accounts = append(g.accounts, uuidFrom(rnd))
	}
	return g
}

// categorizationBody is a request as producers write it: pointers, so a
// field can be absent (nil), null (a producer that writes every field) or set.
type categorizationBody struct {
	Engine         *string   `json:"engine,omitempty"`
	Profile        *string   `json:"profile,omitempty"`
	CountryCode    *string   `json:"countryCode,omitempty"`
	ConsentID      *string   `json:"consentId,omitempty"`
	UserID         *string   `json:"userId,omitempty"`
	ExternalUserID *string   `json:"externalUserId,omitempty"`
	AccountIDs     *[]string `json:"accountIds,omitempty"`
	MetaData       any       `json:"metaData,omitempty"`
}

func pointerTo[T any](v T) *T { return &v }

// Next returns the next request's key (the subject, so one subject's
// requests stay in order on one partition), its value, and whether it is
// valid.
func (g *CategorizationTraffic) Next() (key, value []byte, valid bool) {
	g.seq++
	r := g.rnd
	var b categorizationBody
	var who string
	switch n := r.IntN(100); {
	case n < 45: // consent granted in the AppScreen: a new consent every time
		who = uuidFrom(r)
		b.ConsentID = pointerTo(who)
	case n < 70:
		who = g.users[r.IntN(len(g.users))]
		b.UserID = pointerTo(who)
	case n < 90:
		who = fmt.Sprintf("user_%05d", r.IntN(100000))
		b.ExternalUserID = pointerTo(who)
	default:
		ids := make([]string, 1+r.IntN(3))
		for i := range ids {
			ids[i] = g.accounts[r.IntN(len(g.accounts))]
		}
		who = ids[0]
		b.AccountIDs = &ids
	}
	switch r.IntN(4) {
	case 0: // as in the reference's examples
		b.Engine, b.Profile, b.CountryCode = pointerTo("e1"), pointerTo("retail"), pointerTo("nl")
	case 1: // defaults, except the country some producers always name
		b.CountryCode = pointerTo("nl")
	}
	nulls := r.IntN(10) == 0 // a producer that writes every field
	valid = true
	if r.Float64() < g.InvalidShare {
		valid = false
		switch r.IntN(10) {
		case 0:
			b.Engine = pointerTo("") // names no engine (another engine than e1 is forwarded, not refused)
		case 1:
			b.Profile = pointerTo("business") // e1 knows retail only
		case 2:
			b.CountryCode = pointerTo([]string{"be", "de", "NL"}[r.IntN(3)]) // e1 knows nl only
		case 3:
			b.MetaData = map[string]any{"source": "appscreen", "seq": g.seq} // must be empty for e1
		case 4: // two subjects: the application sent both ids it knew
			if b.UserID == nil {
				b.UserID = pointerTo(g.users[r.IntN(len(g.users))])
			} else {
				b.ConsentID = pointerTo(uuidFrom(r))
			}
		case 5: // no subject: the id was lost on the way
			b.ConsentID, b.UserID, b.ExternalUserID, b.AccountIDs = nil, nil, nil, nil
		case 6:
			b.ConsentID, b.UserID, b.ExternalUserID = nil, nil, nil
			b.AccountIDs = &[]string{} // accounts unlinked before the request left
		case 7:
			b.ConsentID, b.ExternalUserID, b.AccountIDs = nil, nil, nil
			b.UserID = pointerTo("") // an empty id
		case 8: // a field the API does not know
			v, _ := json.Marshal(b)
			return []byte(who), append(v[:len(v)-1], []byte(`,"locale":"nl-NL"}`)...), false
		case 9: // truncated
			return []byte(who), []byte(`{"engine":"e1","consentId":"` + who), false
		}
	}
	v, err := json.Marshal(b)
	if err != nil {
		panic(err)
	}
	if nulls && valid {
		v = withNulls(v, b)
	}
	return []byte(who), v, valid
}

// withNulls adds the absent subject fields as nulls, which read as absent.
func withNulls(v []byte, b categorizationBody) []byte {
	var extra string
	if b.ConsentID == nil {
		extra += `,"consentId":null`
	}
	if b.UserID == nil {
		extra += `,"userId":null`
	}
	if b.ExternalUserID == nil {
		extra += `,"externalUserId":null`
	}
	if b.AccountIDs == nil {
		extra += `,"accountIds":null`
	}
	extra += `,"metaData":null`
	return append(v[:len(v)-1], []byte(extra+"}")...)
}
