package privateapp

import (
	"encoding/json"
	"sort"
	"strconv"
	"time"

	"github.com/torii-gateway/torii/core/event"
)

// User is a logged-in human: one private-app session. Fill the exported
// fields and hand it to Sessions.Create, which sets ID, CreatedAt and
// ExpiresAt and renders what the loops read; never modify it after.
type User struct {
	ID        string          `json:"randomId"`     // session id (Otoroshi's randomId), 43 base64url chars
	Module    string          `json:"authConfigId"` // id of the auth module that logged the user in
	Realm     string          `json:"realm"`        // the module's cookie suffix, e.g. "basic-auth-<id>"
	Name      string          `json:"name"`
	Email     string          `json:"email"`
	Profile   json.RawMessage `json:"profile,omitempty"`  // JSON object from the provider (claims, LDAP attributes...)
	Metadata  json.RawMessage `json:"metadata,omitempty"` // JSON object: the user's metadata (Otoroshi's otoroshiData)
	Tags      []string        `json:"tags,omitempty"`
	Groups    []string        `json:"groups,omitempty"` // provider groups (LDAP group filters matched, OIDC groups claim)
	CreatedAt time.Time       `json:"createdAt"`
	ExpiresAt time.Time       `json:"expiredAt"`
	// Provider tokens, kept for refresh and logout. They are secrets: never
	// in events, logs, the Otoroshi claim or the admin API's session list.
	RefreshToken string `json:"refreshToken,omitempty"`
	IDToken      string `json:"idToken,omitempty"`

	mac      string          // what the cookie must carry after "<id>."
	light    []byte          // LightJSON
	identity *event.Identity // Identity
	expires  int64           // ExpiresAt in Unix ns, read on the loops
}

// LightJSON is Otoroshi's PrivateAppsUser.asJsonCleaned, the "user" part of
// the Otoroshi-Claim: {"name","email","profile","metadata","tags"}. The bytes
// are shared and must not be modified; safe from any goroutine.
func (u *User) LightJSON() []byte { return u.light }

// Identity is the user as events show it (identityType PRIVATEAPP,
// identity: the email, label: the name). Shared and immutable.
func (u *User) Identity() *event.Identity { return u.identity }

// Expired reports whether the session is over at now (Unix ns).
func (u *User) Expired(now int64) bool { return now >= u.expires }

// finish renders the derived fields once the exported ones are set.
func (u *User) finish() {
	u.expires = u.ExpiresAt.UnixNano()
	if len(u.Profile) == 0 {
		u.Profile = json.RawMessage("{}")
	}
	if len(u.Metadata) == 0 {
		u.Metadata = json.RawMessage("{}")
	}
	b := append([]byte(nil), `{"name":`...)
	b = strconv.AppendQuote(b, u.Name)
	b = append(b, `,"email":`...)
	b = strconv.AppendQuote(b, u.Email)
	b = append(b, `,"profile":`...)
	b = append(b, u.Profile...)
	b = append(b, `,"metadata":`...)
	b = append(b, u.Metadata...)
	b = append(b, `,"tags":`...)
	tags, _ := json.Marshal(nonNil(u.Tags))
	b = append(b, tags...)
	u.light = append(b, '}')
	u.identity = &event.Identity{Type: event.IdentityPrivateApp, ClientID: u.Email, ClientName: u.Name,
		Tags: u.Tags, Metadata: event.PairsOf(stringValues(u.Metadata))}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// stringValues returns the members of a JSON object whose values are
// strings, for the event identity's metadata; nil when there are none.
func stringValues(obj json.RawMessage) map[string]string {
	var m map[string]any
	if json.Unmarshal(obj, &m) != nil || len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(m))
	for _, k := range keys {
		if s, ok := m[k].(string); ok {
			out[k] = s
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
