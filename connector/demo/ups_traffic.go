package demo

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/contactlab/connector/schemas"
)

// UPSTraffic makes realistic profile updates for one Algonomy UPS
// collection, as the applications that own customer profiles publish them
// to the upstream topic: one record {"userId", "value"} per update, for a
// pool of known users, each update a whole new value for the user (the API
// replaces a user's data). A share of them is deliberately invalid, in the
// ways real producers get it wrong.
type UPSTraffic struct {
	rnd   *rand.Rand
	coll  schemas.Collection
	users []string
	// InvalidShare is the share (0..1) of invalid records; default 0.01.
	InvalidShare float64
	seq          int64
	epoch        time.Time
}

// NewUPSTraffic returns a generator of updates of collection c for users
// known users. The same seed gives the same users and updates.
func NewUPSTraffic(seed uint64, users int, c schemas.Collection) *UPSTraffic {
	if _, err := schemas.ParseCollection(string(c)); err != nil {
		panic(err) // a programming error: the demo and tests name collections
	}
	rnd := rand.New(rand.NewPCG(seed, seed^0x6a09e667f3bcc909))
	g := &UPSTraffic{rnd: rnd, coll: c, InvalidShare: 0.01, epoch: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	seen := make(map[string]bool, users)
	for len(g.users) < max(users, 1) {
		id := upsUserID(rnd)
		if !seen[id] {
			seen[id] = true
			g.users = append(g.users, id)
		}
	}
	return g
}

// upsUserID is a user id as UPS customers have them: mostly numeric ids
// from a shop's customer database, some SHA-256 hashes of an e-mail (as in
// the reference's segment example).
func upsUserID(r *rand.Rand) string {
	if r.IntN(5) == 0 {
		var b [32]byte
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		return hex.EncodeToString(b[:])
	}
	return strconv.Itoa(10_000_000 + r.IntN(90_000_000))
}

// Users are the generator's users, in a fixed order.
func (g *UPSTraffic) Users() []string { return g.users }

var (
	upsColors     = []string{"red", "green", "blue", "black", "white", "beige", "navy", "olive"}
	upsTiers      = []string{"bronze", "silver", "gold", "platinum"}
	upsInterests  = []string{"running", "hiking", "yoga", "tennis", "cycling", "fashion", "outdoor", "kids"}
	upsCategories = []string{"shoes", "jackets", "accessories", "sportswear", "denim", "knitwear"}
	upsCities     = []string{"Milano", "Roma", "Torino", "Amsterdam", "München", "Lyon", "Madrid"}
	upsChannels   = []string{"email", "sms", "push", "none"}
	upsRisk       = []string{"low", "medium", "high"}
	// The four verbs, each with the spellings the reference uses for it
	// (the API takes any case); one record names a verb once.
	upsVerbs = [][]string{{"like"}, {"dislike", "disLike"}, {"neutral"}, {"Notforrecs", "notforrecs"}}
)

// Next returns the next update's key (the user id, so one user's updates
// stay in order on one partition), its value, and whether it is valid.
func (g *UPSTraffic) Next() (key, value []byte, valid bool) {
	g.seq++
	r := g.rnd
	user := g.users[r.IntN(len(g.users))]
	rec := map[string]any{"userId": user, "value": g.value()}
	valid = true
	if r.Float64() < g.InvalidShare {
		valid = false
		if v := g.spoil(rec); v != nil {
			return []byte(user), v, false
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		panic(err)
	}
	return []byte(user), b, valid
}

// value is a new value of the collection for one user. Each carries
// something of the update's own (a time, a campaign, a product), so two
// updates of a user are told apart.
func (g *UPSTraffic) value() any {
	r := g.rnd
	pick := func(from []string, n int) []string {
		out := make([]string, 0, n)
		for _, i := range r.Perm(len(from))[:min(n, len(from))] {
			out = append(out, from[i])
		}
		return out
	}
	switch g.coll {
	case schemas.UserAttributes:
		v := map[string][]string{
			"fav_color":    pick(upsColors, 1+r.IntN(3)),
			"loyalty_tier": {upsTiers[r.IntN(len(upsTiers))]},
			"last_seen":    {g.epoch.Add(time.Duration(g.seq) * time.Second).Format(time.RFC3339)},
		}
		if r.IntN(2) == 0 {
			v["shoe_size"] = []string{strconv.Itoa(36 + r.IntN(11))}
		}
		if r.IntN(2) == 0 {
			v["interests"] = pick(upsInterests, 1+r.IntN(4))
		}
		if r.IntN(3) == 0 {
			v["city"] = []string{upsCities[r.IntN(len(upsCities))]}
		}
		if r.IntN(4) == 0 {
			v["newsletter"] = []string{"yes"}
		}
		return v
	case schemas.Segments:
		tf := func() string {
			if r.IntN(2) == 0 {
				return "t"
			}
			return "f"
		}
		v := map[string]string{
			"Member":         "isMember-" + tf(),
			"Non-CardHolder": "isMCHolder-" + tf(),
			"rfm":            fmt.Sprintf("r%df%dm%d", 1+r.IntN(5), 1+r.IntN(5), 1+r.IntN(5)),
			"last_campaign":  fmt.Sprintf("cmp-%06d", g.seq),
		}
		if r.IntN(2) == 0 {
			v["churn_risk"] = upsRisk[r.IntN(len(upsRisk))]
		}
		if r.IntN(2) == 0 {
			v["preferred_channel"] = upsChannels[r.IntN(len(upsChannels))]
		}
		if r.IntN(3) == 0 {
			v["top_category"] = upsCategories[r.IntN(len(upsCategories))]
		}
		return v
	case schemas.UserLinking:
		n := 1 + r.IntN(3)
		v := make([]string, 0, n+1)
		for range n {
			switch r.IntN(3) {
			case 0:
				v = append(v, g.users[r.IntN(len(g.users))]) // another known profile
			case 1:
				v = append(v, fmt.Sprintf("ck-%016x", r.Uint64())) // a web cookie id
			default:
				v = append(v, upsUserID(r)) // a profile from another system
			}
		}
		return v
	default: // schemas.UserPreferences
		v := map[string][]string{}
		for _, i := range r.Perm(len(upsVerbs))[:1+r.IntN(3)] {
			spellings := upsVerbs[i]
			prods := make([]string, 1+r.IntN(4))
			for k := range prods {
				prods[k] = fmt.Sprintf("prod%09d%c", r.IntN(1_000_000_000), 'a'+rune(r.IntN(26)))
			}
			v[spellings[r.IntN(len(spellings))]] = prods
		}
		return v
	}
}

// spoil makes rec invalid in one of the ways producers get records wrong;
// a non-nil result is raw bytes to send instead (not JSON, or not a record).
func (g *UPSTraffic) spoil(rec map[string]any) []byte {
	r := g.rnd
	switch r.IntN(6) {
	case 0:
		delete(rec, "userId")
	case 1:
		rec["userId"] = ""
	case 2:
		n, _ := strconv.Atoi(rec["userId"].(string))
		rec["userId"] = n // a number where UPS wants a string
	case 3:
		return []byte(`{"userId":"` + rec["userId"].(string) + `","value":`) // truncated
	case 4:
		delete(rec, "value")
	default:
		// A value of the wrong shape for the collection.
		switch g.coll {
		case schemas.UserAttributes:
			rec["value"] = map[string]any{"fav_color": "red"} // not a list
		case schemas.Segments:
			rec["value"] = map[string]any{"Member": []string{"isMember-t"}} // not a string
		case schemas.UserLinking:
			rec["value"] = []string{""} // an empty linked id
		default:
			rec["value"] = map[string]any{"love": []string{"prod1"}} // not a verb
		}
	}
	return nil
}
