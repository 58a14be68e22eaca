package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Browser sessions: the web UI logs in once with the admin key (POST /api/session) and then
// authenticates with an HttpOnly, SameSite=Strict cookie holding a random token. The server keeps
// token → admin client id in memory, bounded and expiring; a restart logs everyone out.
const (
	// SessionCookie is the name of the session cookie.
	SessionCookie = "torii_session"
	// SessionTTL is how long a session lives after login (no sliding renewal).
	SessionTTL = 12 * time.Hour
	// maxSessions bounds the map, so a client that logs in in a loop cannot grow it without end;
	// past it the oldest session is dropped.
	maxSessions = 1024
	// sessionTokenBytes of crypto/rand entropy in a token.
	sessionTokenBytes = 32
)

type session struct {
	clientID string
	expires  time.Time
}

// sessions is the in-memory session table. Safe for concurrent use.
type sessions struct {
	mu sync.Mutex
	m  map[string]session
}

// create stores a new session for clientID and returns its token.
func (ss *sessions) create(clientID string, now time.Time) (token string, expires time.Time) {
	b := make([]byte, sessionTokenBytes)
	rand.Read(b) // never returns an error (crypto/rand since Go 1.24)
	token = hex.EncodeToString(b)
	expires = now.Add(SessionTTL)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.m == nil {
		ss.m = make(map[string]session)
	}
	if len(ss.m) >= maxSessions {
		oldest := ""
		for t, s := range ss.m {
			if !now.Before(s.expires) {
				delete(ss.m, t)
				continue
			}
			if oldest == "" || s.expires.Before(ss.m[oldest].expires) {
				oldest = t
			}
		}
		if len(ss.m) >= maxSessions {
			delete(ss.m, oldest)
		}
	}
	ss.m[token] = session{clientID: clientID, expires: expires}
	return token, expires
}

// lookup returns the live session of token; an expired one is removed.
func (ss *sessions) lookup(token string, now time.Time) (session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[token]
	if ok && !now.Before(s.expires) {
		delete(ss.m, token)
		return session{}, false
	}
	return s, ok
}

func (ss *sessions) remove(token string) {
	ss.mu.Lock()
	delete(ss.m, token)
	ss.mu.Unlock()
}

// isSafeMethod reports whether a method only reads.
func isSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sessionAuth authenticates r by its session cookie. A write must also carry an Origin naming this
// server: SameSite=Strict already keeps the cookie off cross-site requests, and this second check
// does not depend on the browser honouring it (CSRF).
func (s *Server) sessionAuth(r *http.Request) (*http.Request, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return r, errUnauthorized()
	}
	sess, ok := s.sessions.lookup(c.Value, time.Now())
	if !ok || (sess.clientID != s.key.ClientID && !strings.HasPrefix(sess.clientID, ssoPrefix)) {
		return r, errUnauthorized()
	}
	if !isSafeMethod(r.Method) && r.Header.Get("Origin") == "" {
		return r, errForbidden("a cookie-authenticated write needs an Origin header")
	}
	return withWho(withSession(r), sess.clientID), nil
}

type sessionCtxKey struct{}

func withSession(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), sessionCtxKey{}, true))
}

func bySession(r *http.Request) bool {
	v, _ := r.Context().Value(sessionCtxKey{}).(bool)
	return v
}

// sessionInfo is the body of GET and POST /api/session.
type sessionInfo struct {
	ClientID  string `json:"clientId"`
	Via       string `json:"via"` // "cookie" or "key"
	ExpiresAt int64  `json:"expiresAt,omitempty"`
}

// handleLogin answers POST /api/session: it checks {clientId, clientSecret} like the API's auth
// and sets the session cookie. It is a public endpoint, so it runs the Host/Origin check itself.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkOrigin(r); err != nil {
		return err
	}
	if err := checkSameOrigin(r); err != nil {
		return err
	}
	body, err := s.readBody(w, r, maxLoginBody, false)
	if err != nil {
		return err
	}
	var in struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
		Username     string `json:"username"` // a person of the back-office auth module (sso.go)
		Password     string `json:"password"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return errBadRequest("cannot decode login: " + err.Error())
	}
	if in.Username != "" && in.ClientID == "" {
		return s.ssoLogin(w, r, in.Username, in.Password)
	}
	var fields []FieldError
	if in.ClientID == "" {
		fields = append(fields, FieldError{Field: "clientId", Message: "is required"})
	}
	if in.ClientSecret == "" {
		fields = append(fields, FieldError{Field: "clientSecret", Message: "is required"})
	}
	if fields != nil {
		return errValidation(fields)
	}
	if err := s.verifyKey(r, in.ClientID, in.ClientSecret); err != nil {
		return err
	}
	// A session cookie the client already held (planted by someone else, say) is ended, never
	// reused: the login always makes a fresh token (session fixation).
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		s.sessions.remove(c.Value)
	}
	token, expires := s.sessions.create(in.ClientID, time.Now())
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/",
		Expires: expires, MaxAge: int(SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureCookie(r),
	})
	w.Header().Set("Cache-Control", "no-store")
	s.log.Info("admin login", "who", in.ClientID, "from", r.RemoteAddr)
	return s.writeValue(w, http.StatusOK, sessionInfo{ClientID: in.ClientID, Via: "cookie", ExpiresAt: expires.UnixMilli()})
}

// handleWhoAmI answers GET /api/session: who is authenticated, and how.
func (s *Server) handleWhoAmI(w http.ResponseWriter, r *http.Request) error {
	info := sessionInfo{ClientID: who(r), Via: "key"}
	if bySession(r) {
		info.Via = "cookie"
		if c, err := r.Cookie(SessionCookie); err == nil {
			if sess, ok := s.sessions.lookup(c.Value, time.Now()); ok {
				info.ExpiresAt = sess.expires.UnixMilli()
			}
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.writeValue(w, http.StatusOK, info)
}

// handleLogout answers DELETE /api/session: it ends the cookie's session, if any, and clears the
// cookie. It is public (an expired session can still log out) but runs the Host/Origin check, and
// with a cookie it wants an Origin like any cookie-authenticated write.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkOrigin(r); err != nil {
		return err
	}
	if err := checkSameOrigin(r); err != nil {
		return err
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		if r.Header.Get("Origin") == "" {
			return errForbidden("a cookie-authenticated write needs an Origin header")
		}
		s.sessions.remove(c.Value)
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureCookie(r),
	})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// noChallenge drops WWW-Authenticate from an answer: a browser that gets a Basic challenge on a
// fetch opens its own login dialog (and a headless one waits forever) instead of letting the page
// show its login form.
type noChallenge struct{ http.ResponseWriter }

func (n noChallenge) WriteHeader(code int) {
	n.Header().Del("WWW-Authenticate")
	n.ResponseWriter.WriteHeader(code)
}

// noChallengeFor returns w, or w without the Basic challenge when the request says it comes from
// a script (X-Requested-With, as the web UI sends).
func noChallengeFor(w http.ResponseWriter, r *http.Request) http.ResponseWriter {
	if r.Header.Get("X-Requested-With") != "" {
		return noChallenge{w}
	}
	return w
}
