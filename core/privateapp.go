package core

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/httpparse"
)

// The AuthModule step: private apps.
//
// A route with Otoroshi's AuthModule plugin ({"auth_module": id,
// "pass_with_apikey": bool}) or MultiAuthModule ({"auth_modules": [ids]})
// serves only requests that carry a live session cookie of one of its
// modules (Config.PrivateApps; the check is an in-memory lookup, 0 allocs,
// package privateapp), or, with pass_with_apikey, a valid API key of the
// route's ApikeyCalls step. Without either, a browser navigation (Accept:
// text/html and no X-Requested-With: XMLHttpRequest) is answered 302 to
// LoginPath on the same host, with the route id and the path and query it
// asked for; any other client gets 401 errors.auth.required. The login
// pages themselves are served by package auth, reached through a route the
// admin API adds for each such domain, so nothing here waits on a
// provider. The user goes to events (identityType PRIVATEAPP).

// LoginPath is where browsers without a session are sent, on the host they
// asked for.
const LoginPath = "/.well-known/otoroshi/privateapps/login"

// maxLoginTarget bounds the path and query carried back through the login
// flow; a longer target comes back to "/" (the redirect stays short enough
// for every browser).
const maxLoginTarget = 2048

// privGate is the compiled AuthModule step of a route.
type privGate struct {
	modules     []string
	passWithKey bool
}

// privConfig is the plugin config of AuthModule and MultiAuthModule.
type privConfig struct {
	AuthModule     *string  `json:"auth_module"`
	Module         *string  `json:"module"`
	AuthModules    []string `json:"auth_modules"`
	Modules        []string `json:"modules"`
	PassWithApikey bool     `json:"pass_with_apikey"`
}

// compilePrivGate compiles the config of an AuthModule or MultiAuthModule
// step; a missing module reference is an error (Otoroshi answers such a
// route 500 errors.auth.config.ref.not.found).
func compilePrivGate(name string, raw json.RawMessage) (*privGate, error) {
	var c privConfig
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("plugin %s: invalid config: %w", name, err)
		}
	}
	g := &privGate{passWithKey: c.PassWithApikey}
	if name == "MultiAuthModule" {
		for _, m := range append(c.AuthModules, c.Modules...) {
			if m != "" {
				g.modules = append(g.modules, m)
			}
		}
		if len(g.modules) == 0 {
			return nil, fmt.Errorf("plugin MultiAuthModule: field auth_modules: no auth module given")
		}
		return g, nil
	}
	switch {
	case c.AuthModule != nil && *c.AuthModule != "":
		g.modules = []string{*c.AuthModule}
	case c.Module != nil && *c.Module != "":
		g.modules = []string{*c.Module}
	default:
		return nil, fmt.Errorf("plugin AuthModule: field auth_module: no auth module given")
	}
	return g, nil
}

// checkSession runs g for cc's request. On the loop; no allocation when a
// session is found.
func (lp *loop) checkSession(cc *clientConn, g *privGate, rt *route.Compiled, buf []byte) (errKind, bool) {
	if g.passWithKey && cc.pol.key != nil {
		return 0, true
	}
	ss := lp.s.cfg.PrivateApps
	if ss == nil {
		return errAuthModuleMissing, false
	}
	now := time.Now().UnixNano()
	known := false
	for _, id := range g.modules {
		m := ss.Module(id)
		if m == nil {
			continue
		}
		known = true
		if u := ss.Check(id, m.Cookie, &lp.req, buf, now); u != nil {
			cc.pol.user = u
			return 0, true
		}
	}
	if !known {
		return errAuthModuleMissing, false
	}
	if !cc.wantsHTML {
		return errLoginRequired, false
	}
	if v, ok := lp.req.Lookup(buf, "x-requested-with"); ok && httpparse.EqualFold(v.Bytes(buf), "xmlhttprequest") {
		return errLoginRequired, false
	}
	lp.pol.login = appendLoginLocation(lp.pol.login[:0], rt.ID, lp.req.Target.Bytes(buf))
	return errLoginRedirect, false
}

// appendLoginLocation appends LoginPath?route=<id>&redirect=<target>, both
// percent-encoded. target is the request-target as sent; anything but an
// origin-form target (or a too long one) comes back to "/".
func appendLoginLocation(dst []byte, routeID string, target []byte) []byte {
	if len(target) == 0 || target[0] != '/' || len(target) > maxLoginTarget {
		target = slash
	}
	dst = append(dst, LoginPath+"?route="...)
	dst = appendQueryEscape(dst, routeID)
	dst = append(dst, "&redirect="...)
	for _, c := range target {
		if isUnreservedByte(c) || c == '/' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
	}
	return dst
}

const upperHex = "0123456789ABCDEF"

func appendQueryEscape(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreservedByte(c) {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
	}
	return dst
}

// isUnreservedByte reports RFC 3986 unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~".
func isUnreservedByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// loginRedirect renders the 302 to the location checkSession built, in the
// loop's policy page buffer: valid until the next login redirect on this
// loop. The response is not cached and carries no body.
func (lp *loop) loginRedirect(closing bool) []byte {
	dst := append(lp.pol.page[:0], "HTTP/1.1 302 Found\r\nLocation: "...)
	dst = append(dst, lp.pol.login...)
	dst = append(dst, "\r\nCache-Control: no-store\r\nContent-Length: 0\r\n"...)
	if closing {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	lp.pol.page = dst
	return dst
}
