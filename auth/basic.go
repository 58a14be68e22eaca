package auth

import (
	"crypto/subtle"
	"encoding/json"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Identity is who a provider says logged in, before a session is made.
type Identity struct {
	Name, Email string
	Profile     json.RawMessage
	Metadata    json.RawMessage
	Tags        []string
	Groups      []string
	// RefreshToken and IDToken come from an OIDC provider.
	RefreshToken, IDToken string
}

// dummyHash is compared against when the user is unknown, so that an
// unknown name costs the same bcrypt time as a wrong password (no user
// enumeration by timing).
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("torii-no-such-user"), bcrypt.DefaultCost)

// basicLogin checks username (email or name) and password against the
// users of a basic module. bcrypt costs tens of milliseconds: the login
// server calls it on its own goroutines, never a loop.
func basicLogin(c *Config, username, password string) (*Identity, error) {
	var found *BasicUser
	for i := range c.Users {
		u := &c.Users[i]
		if subtle.ConstantTimeCompare([]byte(strings.ToLower(u.Email)), []byte(strings.ToLower(username))) == 1 ||
			(u.Email == "" && u.Name == username) {
			found = u
			break
		}
	}
	if found == nil {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return nil, errBadCredentials
	}
	if bcrypt.CompareHashAndPassword([]byte(found.Password), []byte(password)) != nil {
		return nil, errBadCredentials
	}
	id := &Identity{Name: found.Name, Email: found.Email, Tags: found.Tags, Metadata: found.Metadata}
	id.Profile, _ = json.Marshal(map[string]any{"name": found.Name, "email": found.Email})
	return id, nil
}

// allowed applies the module's allowedUsers and deniedUsers lists (emails
// or names); an empty allow list allows everyone not denied.
func allowed(c *Config, id *Identity) bool {
	for _, d := range c.DeniedUsers {
		if strings.EqualFold(d, id.Email) || d == id.Name {
			return false
		}
	}
	if len(c.AllowedUsers) == 0 {
		return true
	}
	for _, a := range c.AllowedUsers {
		if strings.EqualFold(a, id.Email) || a == id.Name {
			return true
		}
	}
	return false
}
