package privateapp

import (
	"sync/atomic"
	"time"
)

// Module is what the loops need to know of an auth module: the name of its
// session cookie. The admin API publishes the catalog (SetModules) before
// each snapshot that refers to it.
type Module struct {
	ID     string
	Type   string        // "basic", "oauth2", "ldap"
	Cookie string        // "oto-papps-" + the module's cookie suffix
	MaxAge time.Duration // sessionMaxAge
}

// CookieName returns Otoroshi's session cookie name for a module of type
// typ and id: oto-papps-basic-auth-<id>, oto-papps-global-oauth-<id>,
// oto-papps-ldap-auth-<id>.
func CookieName(typ, id string) string {
	return "oto-papps-" + RealmOf(typ, id)
}

// RealmOf is Otoroshi's cookie suffix of a module (its realm).
func RealmOf(typ, id string) string {
	switch typ {
	case "oauth2":
		return "global-oauth-" + id
	case "ldap":
		return "ldap-auth-" + id
	}
	return "basic-auth-" + id
}

type catalog = map[string]*Module

// SetModules replaces the module catalog. The map must not be modified
// after the call. Safe from any goroutine.
func (s *Sessions) SetModules(m map[string]*Module) { s.modules.Store(&m) }

// Module returns the module of id, or nil. On the loops: one map lookup
// through an atomic pointer, no allocation.
func (s *Sessions) Module(id string) *Module {
	p := s.modules.Load()
	if p == nil {
		return nil
	}
	return (*p)[id]
}

// moduleTable is embedded in Sessions.
type moduleTable struct {
	modules atomic.Pointer[catalog]
}
