package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/torii-gateway/torii/auth"
)

// Back-office login through an auth module (Otoroshi's backOfficeAuthRef in the global config):
// operators log in to the UI with the users of a basic or ldap module, as Otoroshi's back office
// does; the admin key stays the break-glass way in.
//
// Admin rights come from the module: a user whose metadata has "toriiAdmin": true (or
// "toriiRights": "admin"), or who is in one of the groups the module's metadata lists in
// "toriiAdminGroups" (comma-separated; LDAP group filters and OIDC groups). Anyone else is refused
// (403): the admin API has no read-only role for people.

// ssoPrefix marks the session of a person (the admin key's sessions hold its client id).
const ssoPrefix = "user:"

// backOfficeModule returns the id of the module the back office logs in with, or "".
func (s *Server) backOfficeModule() string {
	if s.opts.PrivateApps == nil {
		return ""
	}
	st := s.cur.Load()
	if st == nil {
		return ""
	}
	ref, _ := st.globalDoc()["backOfficeAuthRef"].(string)
	return ref
}

// isAdmin reports whether the module grants id the admin rights.
func isAdmin(c *auth.Config, id *auth.Identity) bool {
	var meta map[string]any
	if len(id.Metadata) > 0 {
		_ = json.Unmarshal(id.Metadata, &meta)
	}
	if v, _ := meta["toriiAdmin"].(bool); v {
		return true
	}
	if v, _ := meta["toriiRights"].(string); v == "admin" {
		return true
	}
	for _, g := range strings.Split(c.Metadata["toriiAdminGroups"], ",") {
		if g = strings.TrimSpace(g); g != "" && slices.Contains(id.Groups, g) {
			return true
		}
	}
	return false
}

// ssoLogin answers POST /api/session with {username, password}: the back-office module checks
// them (throttled like the admin key), the module's rights decide, and a session is made.
func (s *Server) ssoLogin(w http.ResponseWriter, r *http.Request, username, password string) error {
	mod := s.backOfficeModule()
	if mod == "" {
		return errValidation([]FieldError{{Field: "username", Message: "no back-office auth module: set backOfficeAuthRef in the global config, or log in with the admin key"}})
	}
	id, c, err := s.opts.PrivateApps.Login(r.Context(), mod, username, password, clientPrefix(r.RemoteAddr).String())
	var te *auth.ThrottledError
	switch {
	case errors.As(err, &te):
		metricAuthThrottled.Inc()
		return errTooManyFailures(te.RetryAfter)
	case errors.Is(err, auth.ErrLDAPUnavailable):
		return &APIError{Status: http.StatusServiceUnavailable, Code: "errors.auth.provider.unavailable", Message: "the back-office auth module's server is unavailable"}
	case err != nil:
		metricAuthFailures.Inc()
		s.log.Info("back-office login refused", "from", r.RemoteAddr, "module", mod)
		return errUnauthorized()
	}
	if !isAdmin(c, id) {
		s.log.Info("back-office login without admin rights", "from", r.RemoteAddr, "module", mod, "user", id.Email)
		return errForbidden(id.Email + " has no admin rights in auth module " + mod)
	}
	who := ssoPrefix + id.Email
	if ck, err := r.Cookie(SessionCookie); err == nil && ck.Value != "" {
		s.sessions.remove(ck.Value)
	}
	token, expires := s.sessions.create(who, time.Now())
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/",
		Expires: expires, MaxAge: int(SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureCookie(r),
	})
	w.Header().Set("Cache-Control", "no-store")
	s.log.Info("admin login", "who", who, "module", mod, "from", r.RemoteAddr)
	return s.writeValue(w, http.StatusOK, sessionInfo{ClientID: who, Via: "cookie", ExpiresAt: expires.UnixMilli()})
}

// handleSSO answers GET /api/session/sso (public): whether the UI may offer a login through the
// back-office module, and its name.
func (s *Server) handleSSO(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkOrigin(r); err != nil {
		return err
	}
	out := map[string]any{"enabled": false}
	if mod := s.backOfficeModule(); mod != "" {
		if c := s.opts.PrivateApps.Module(mod); c != nil && c.Type != auth.TypeOAuth2 {
			name := c.Name
			if name == "" {
				name = c.ID
			}
			out = map[string]any{"enabled": true, "name": name, "type": c.Type}
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.writeValue(w, http.StatusOK, out)
}
