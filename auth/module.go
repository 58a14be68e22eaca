package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/torii-gateway/torii/core/privateapp"
	"golang.org/x/crypto/bcrypt"
)

// Module types (Otoroshi's authConfigs "type").
const (
	TypeBasic  = "basic"
	TypeOAuth2 = "oauth2"
	TypeLDAP   = "ldap"
)

// defaultSessionMaxAge is Otoroshi's sessionMaxAge default, in seconds.
const defaultSessionMaxAge = 86400

// Config is one authConfigs entity, decoded with Otoroshi's field names.
// Fields Torii does not use are kept in the stored document untouched.
type Config struct {
	Type          string            `json:"type"`
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Desc          string            `json:"desc"`
	SessionMaxAge *int64            `json:"sessionMaxAge"` // seconds
	BasicAuth     bool              `json:"basicAuth"`
	Metadata      map[string]string `json:"metadata"`
	Tags          []string          `json:"tags"`
	AllowedUsers  []string          `json:"allowedUsers"`
	DeniedUsers   []string          `json:"deniedUsers"`

	// basic
	Users []BasicUser `json:"users"`

	// oauth2
	ClientID             string          `json:"clientId"`
	ClientSecret         string          `json:"clientSecret"`
	AuthorizeURL         string          `json:"authorizeUrl"`
	TokenURL             string          `json:"tokenUrl"`
	UserInfoURL          string          `json:"userInfoUrl"`
	LogoutURL            string          `json:"logoutUrl"`
	Scope                string          `json:"scope"`
	Claims               string          `json:"claims"`
	RefreshTokens        bool            `json:"refreshTokens"`
	PKCE                 *PKCE           `json:"pkce"`
	ReadProfileFromToken bool            `json:"readProfileFromToken"`
	NameField            string          `json:"nameField"`
	EmailField           string          `json:"emailField"`
	OtoroshiDataField    string          `json:"otoroshiDataField"`
	CallbackURL          string          `json:"callbackUrl"`
	OIDConfig            *string         `json:"oidConfig"`
	JWTVerifier          json.RawMessage `json:"jwtVerifier"`
	ExtraMetadata        json.RawMessage `json:"extraMetadata"`

	// ldap
	ServerURL     string        `json:"serverUrl"`
	ServerURLs    []string      `json:"serverUrls"`
	SearchBase    string        `json:"searchBase"`
	UserBase      *string       `json:"userBase"`
	GroupFilter   *string       `json:"groupFilter"`
	GroupFilters  []GroupFilter `json:"groupFilters"`
	SearchFilter  string        `json:"searchFilter"`
	AdminUsername *string       `json:"adminUsername"`
	AdminPassword *string       `json:"adminPassword"`
	MetadataField *string       `json:"metadataField"`
	AllowEmpty    bool          `json:"allowEmptyPassword"`

	// Unsupported is set for Otoroshi module types Torii keeps but does not run (saml, oauth1,
	// wasm, workflow): stored, listed and exported; a route that uses one answers 500
	// errors.auth.config.not.found.
	Unsupported bool `json:"-"`
}

// unsupportedTypes are Otoroshi's other module types: kept, not enforced.
var unsupportedTypes = map[string]bool{"saml": true, "oauth1": true, "wasm": true, "workflow": true}

// BasicUser is one user of a basic module; Password is a bcrypt hash.
type BasicUser struct {
	Name     string          `json:"name"`
	Password string          `json:"password"`
	Email    string          `json:"email"`
	Metadata json.RawMessage `json:"metadata"`
	Tags     []string        `json:"tags"`
}

// PKCE is Otoroshi's pkce object of an oauth2 module.
type PKCE struct {
	Enabled   bool   `json:"enabled"`
	Algorithm string `json:"algorithm"` // "S256" (default) or "plain"
}

// GroupFilter is one LDAP group filter: users listed as members of the
// groups the filter finds pass; Group is the filter itself.
type GroupFilter struct {
	Group  string `json:"group"`
	Tenant string `json:"tenant"`
	Team   string `json:"team"`
}

// MaxAge is the module's session lifetime.
func (c *Config) MaxAge() time.Duration {
	s := int64(defaultSessionMaxAge)
	if c.SessionMaxAge != nil && *c.SessionMaxAge > 0 {
		s = *c.SessionMaxAge
	}
	return time.Duration(s) * time.Second
}

// Cookie is the module's session cookie name.
func (c *Config) Cookie() string { return privateapp.CookieName(c.Type, c.ID) }

// Decode decodes and checks one authConfigs document. The error names the
// field and the value at fault.
func Decode(raw []byte) (*Config, error) {
	c := new(Config)
	if err := json.Unmarshal(raw, c); err != nil {
		return nil, fmt.Errorf("auth module: %w", err)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

// fieldError is a problem of one field of an auth module.
type fieldError struct {
	id, field, msg string
}

func (e *fieldError) Error() string {
	return fmt.Sprintf("auth module %q: field %s: %s", e.id, e.field, e.msg)
}

// FieldOf splits an error of Decode into the field at fault and the
// message; field is "" when the error is not about one field.
func FieldOf(err error) (field, msg string) {
	var fe *fieldError
	if errors.As(err, &fe) {
		return fe.field, fe.msg
	}
	return "", err.Error()
}

func (c *Config) fail(field, format string, args ...any) error {
	return &fieldError{id: c.ID, field: field, msg: fmt.Sprintf(format, args...)}
}

// check validates the fields of c's type and fills the defaults.
func (c *Config) check() error {
	if c.ID == "" {
		return c.fail("id", "must not be empty")
	}
	if c.SessionMaxAge != nil && *c.SessionMaxAge < 0 {
		return c.fail("sessionMaxAge", "%d is negative", *c.SessionMaxAge)
	}
	if c.Type == "oauth2-global" { // Otoroshi's older name of the same module
		c.Type = TypeOAuth2
	}
	if unsupportedTypes[c.Type] {
		c.Unsupported = true
		return nil
	}
	switch c.Type {
	case TypeBasic:
		seen := map[string]bool{}
		for i, u := range c.Users {
			f := fmt.Sprintf("users[%d]", i)
			if u.Email == "" && u.Name == "" {
				return c.fail(f+".email", "must not be empty")
			}
			if seen[u.Email] {
				return c.fail(f+".email", "%q appears twice", u.Email)
			}
			seen[u.Email] = true
			if _, err := bcrypt.Cost([]byte(u.Password)); err != nil {
				return c.fail(f+".password", "is not a bcrypt hash ($2a$/$2b$/$2y$): %v", err)
			}
			if len(u.Metadata) > 0 && string(u.Metadata) != "null" && !isObject(u.Metadata) {
				return c.fail(f+".metadata", "must be a JSON object, not %s", u.Metadata)
			}
		}
	case TypeOAuth2:
		if c.ClientID == "" {
			return c.fail("clientId", "must not be empty")
		}
		if c.OIDConfig != nil && *c.OIDConfig != "" {
			if err := checkURL(*c.OIDConfig); err != nil {
				return c.fail("oidConfig", "%q: %v", *c.OIDConfig, err)
			}
		} else {
			for _, f := range []struct{ name, v string }{{"authorizeUrl", c.AuthorizeURL}, {"tokenUrl", c.TokenURL}} {
				if err := checkURL(f.v); err != nil {
					return c.fail(f.name, "%q: %v (or set oidConfig to the provider's discovery URL)", f.v, err)
				}
			}
		}
		if c.UserInfoURL != "" {
			if err := checkURL(c.UserInfoURL); err != nil {
				return c.fail("userInfoUrl", "%q: %v", c.UserInfoURL, err)
			}
		}
		if c.CallbackURL != "" {
			if err := checkURL(c.CallbackURL); err != nil {
				return c.fail("callbackUrl", "%q: %v", c.CallbackURL, err)
			}
		}
		if c.PKCE != nil && c.PKCE.Enabled && c.PKCE.Algorithm != "" && c.PKCE.Algorithm != "S256" && c.PKCE.Algorithm != "plain" {
			return c.fail("pkce.algorithm", "%q is neither S256 nor plain", c.PKCE.Algorithm)
		}
		if c.ReadProfileFromToken && c.oidcIssuer() == "" && c.jwksURL() == "" {
			return c.fail("readProfileFromToken", "needs oidConfig or a jwtVerifier with a JWKS url to verify the token")
		}
		if c.Scope == "" {
			c.Scope = "openid profile email name"
		}
		if c.NameField == "" {
			c.NameField = "name"
		}
		if c.EmailField == "" {
			c.EmailField = "email"
		}
	case TypeLDAP:
		if c.ServerURL != "" {
			c.ServerURLs = append([]string{c.ServerURL}, c.ServerURLs...)
		}
		if len(c.ServerURLs) == 0 {
			return c.fail("serverUrls", "must list at least one ldap:// URL")
		}
		for i, s := range c.ServerURLs {
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
				return c.fail(fmt.Sprintf("serverUrls[%d]", i), "%q is not an ldap:// or ldaps:// host:port URL", s)
			}
		}
		if c.SearchBase == "" {
			return c.fail("searchBase", "must not be empty")
		}
		if c.SearchFilter == "" {
			return c.fail("searchFilter", "must not be empty, e.g. (uid=${username})")
		}
		if _, err := parseFilter(strings.ReplaceAll(c.SearchFilter, "${username}", "x")); err != nil {
			return c.fail("searchFilter", "%q: %v", c.SearchFilter, err)
		}
		if c.GroupFilter != nil && *c.GroupFilter != "" {
			c.GroupFilters = append([]GroupFilter{{Group: *c.GroupFilter}}, c.GroupFilters...)
		}
		for i, g := range c.GroupFilters {
			if _, err := parseFilter(g.Group); err != nil {
				return c.fail(fmt.Sprintf("groupFilters[%d].group", i), "%q: %v", g.Group, err)
			}
		}
		if c.NameField == "" {
			c.NameField = "cn"
		}
		if c.EmailField == "" {
			c.EmailField = "mail"
		}
	default:
		return c.fail("type", "%q is not one of basic, oauth2, ldap (or Otoroshi's saml, oauth1, wasm, workflow, kept but not run)", c.Type)
	}
	return nil
}

// oidcIssuer returns the issuer of the oidConfig discovery URL, "" when
// there is none.
func (c *Config) oidcIssuer() string {
	if c.OIDConfig == nil || *c.OIDConfig == "" {
		return ""
	}
	return strings.TrimSuffix(strings.TrimSuffix(*c.OIDConfig, "/.well-known/openid-configuration"), "/")
}

// jwksURL returns the JWKS URL of the jwtVerifier ({"type":
// "JWKSAlgoSettings", "url": ...}), "" when there is none.
func (c *Config) jwksURL() string {
	var v struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	}
	if len(c.JWTVerifier) == 0 || json.Unmarshal(c.JWTVerifier, &v) != nil || v.Type != "JWKSAlgoSettings" {
		return ""
	}
	return v.URL
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("not an absolute http(s) URL")
	}
	return nil
}

func isObject(b json.RawMessage) bool {
	var m map[string]any
	return json.Unmarshal(b, &m) == nil
}
