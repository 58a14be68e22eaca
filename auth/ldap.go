package auth

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// LDAP operations (RFC 4511) Torii uses: simple bind, search, unbind.
const (
	opBindRequest    = classApplication | constructed // tag 0
	opBindResponse   = classApplication | constructed | 1
	opUnbindRequest  = classApplication | 2
	opSearchRequest  = classApplication | constructed | 3
	opSearchEntry    = classApplication | constructed | 4
	opSearchDone     = classApplication | constructed | 5
	opSearchRef      = classApplication | constructed | 19
	ldapSuccess      = 0
	ldapInvalidCreds = 49
	scopeSubtree     = 2
	// ldapTimeout bounds each exchange with a server (connect, bind, search).
	ldapTimeout = 5 * time.Second
	// ldapSizeLimit bounds the entries one search returns.
	ldapSizeLimit = 100
)

// ErrLDAPUnavailable: no server of the module could be reached or answered
// properly; the login is answered 503.
var ErrLDAPUnavailable = errors.New("auth: LDAP server unavailable")

// errBadCredentials: the user is unknown, the password wrong, or the user
// is outside the group filters (the login form says the same for all three).
var errBadCredentials = errors.New("auth: bad credentials")

// ldapConn is one connection to an LDAP server.
type ldapConn struct {
	c     net.Conn
	r     *bufio.Reader
	msgID int
}

// ldapDial connects to the first server of servers that answers: ldap:// in
// clear (port 389 by default), ldaps:// over TLS (port 636), verified against
// roots (nil: the system's roots) and the URL's host name.
func ldapDial(ctx context.Context, servers []string, roots *x509.CertPool) (*ldapConn, error) {
	var errs []error
	for _, s := range servers {
		u, err := url.Parse(s)
		if err != nil {
			continue
		}
		host := u.Host
		if u.Port() == "" {
			port := "389"
			if u.Scheme == "ldaps" {
				port = "636"
			}
			host = net.JoinHostPort(u.Hostname(), port)
		}
		d := net.Dialer{Timeout: ldapTimeout}
		var c net.Conn
		if u.Scheme == "ldaps" {
			td := tls.Dialer{NetDialer: &d, Config: &tls.Config{ServerName: u.Hostname(), RootCAs: roots, MinVersion: tls.VersionTLS12}}
			c, err = td.DialContext(ctx, "tcp", host)
		} else {
			c, err = d.DialContext(ctx, "tcp", host)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return &ldapConn{c: c, r: bufio.NewReader(c)}, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrLDAPUnavailable, errors.Join(errs...))
}

func (l *ldapConn) close() {
	l.msgID++
	msg := berInt(nil, tagInteger, l.msgID)
	msg = berAppend(msg, opUnbindRequest, nil)
	_ = l.c.SetDeadline(time.Now().Add(time.Second))
	_, _ = l.c.Write(berAppend(nil, tagSequence, msg))
	_ = l.c.Close()
}

// send writes one request and returns its message id.
func (l *ldapConn) send(op []byte) (int, error) {
	l.msgID++
	msg := berInt(nil, tagInteger, l.msgID)
	msg = append(msg, op...)
	_ = l.c.SetDeadline(time.Now().Add(ldapTimeout))
	if _, err := l.c.Write(berAppend(nil, tagSequence, msg)); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrLDAPUnavailable, err)
	}
	return l.msgID, nil
}

// recv reads the next message of id and returns its protocol op.
func (l *ldapConn) recv(id int) (tlv, error) {
	for {
		raw, err := berRead(l.r)
		if err != nil {
			return tlv{}, fmt.Errorf("%w: %w", ErrLDAPUnavailable, err)
		}
		seq, _, err := berNext(raw)
		if err != nil || seq.tag != tagSequence {
			return tlv{}, fmt.Errorf("%w: %w", ErrLDAPUnavailable, errBER)
		}
		mid, rest, err := berNext(seq.content)
		if err != nil {
			return tlv{}, fmt.Errorf("%w: %w", ErrLDAPUnavailable, err)
		}
		n, err := berInteger(mid.content)
		if err != nil {
			return tlv{}, fmt.Errorf("%w: %w", ErrLDAPUnavailable, err)
		}
		if n != id {
			continue // e.g. a notice of disconnection (id 0) is read as a failure below
		}
		op, _, err := berNext(rest)
		if err != nil {
			return tlv{}, fmt.Errorf("%w: %w", ErrLDAPUnavailable, err)
		}
		return op, nil
	}
}

// result decodes an LDAPResult's code and diagnostic message.
func result(op tlv) (int, string, error) {
	code, rest, err := berNext(op.content)
	if err != nil {
		return 0, "", err
	}
	c, err := berInteger(code.content)
	if err != nil {
		return 0, "", err
	}
	_, rest, _ = berNext(rest) // matchedDN
	diag, _, _ := berNext(rest)
	return c, string(diag.content), nil
}

// bind does a simple bind; a wrong password is errBadCredentials.
func (l *ldapConn) bind(dn, password string) error {
	body := berInt(nil, tagInteger, 3)
	body = berString(body, tagOctetString, dn)
	body = berString(body, classContext, password) // [0] simple
	id, err := l.send(berAppend(nil, opBindRequest, body))
	if err != nil {
		return err
	}
	op, err := l.recv(id)
	if err != nil {
		return err
	}
	if op.tag != opBindResponse {
		return fmt.Errorf("%w: unexpected answer to bind", ErrLDAPUnavailable)
	}
	code, diag, err := result(op)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLDAPUnavailable, err)
	}
	switch code {
	case ldapSuccess:
		return nil
	case ldapInvalidCreds:
		return errBadCredentials
	}
	return fmt.Errorf("%w: bind refused with result code %d (%s)", ErrLDAPUnavailable, code, diag)
}

// ldapEntry is one search result: its DN and attributes (names lower-cased).
type ldapEntry struct {
	dn    string
	attrs map[string][]string
}

func (e *ldapEntry) first(name string) string {
	if v := e.attrs[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// search runs a subtree search of base with filter.
func (l *ldapConn) search(base, filter string, attrs []string) ([]ldapEntry, error) {
	f, err := parseFilter(filter)
	if err != nil {
		return nil, err
	}
	body := berString(nil, tagOctetString, base)
	body = berInt(body, tagEnumerated, scopeSubtree)
	body = berInt(body, tagEnumerated, 0) // neverDerefAliases
	body = berInt(body, tagInteger, ldapSizeLimit)
	body = berInt(body, tagInteger, int(ldapTimeout/time.Second))
	body = berBool(body, false)
	body = append(body, f...)
	var list []byte
	for _, a := range attrs {
		list = berString(list, tagOctetString, a)
	}
	body = berAppend(body, tagSequence, list)
	id, err := l.send(berAppend(nil, opSearchRequest, body))
	if err != nil {
		return nil, err
	}
	var out []ldapEntry
	for {
		op, err := l.recv(id)
		if err != nil {
			return nil, err
		}
		switch op.tag {
		case opSearchEntry:
			e, err := decodeEntry(op.content)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrLDAPUnavailable, err)
			}
			out = append(out, e)
		case opSearchRef:
		case opSearchDone:
			code, diag, err := result(op)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrLDAPUnavailable, err)
			}
			if code == 32 { // noSuchObject: the base does not exist
				return nil, nil
			}
			if code != ldapSuccess && code != 4 { // 4: sizeLimitExceeded keeps what came
				return nil, fmt.Errorf("%w: search refused with result code %d (%s)", ErrLDAPUnavailable, code, diag)
			}
			return out, nil
		default:
			return nil, fmt.Errorf("%w: unexpected answer to search", ErrLDAPUnavailable)
		}
	}
}

func decodeEntry(b []byte) (ldapEntry, error) {
	name, rest, err := berNext(b)
	if err != nil {
		return ldapEntry{}, err
	}
	e := ldapEntry{dn: string(name.content), attrs: map[string][]string{}}
	list, _, err := berNext(rest)
	if err != nil {
		return ldapEntry{}, err
	}
	for b := list.content; len(b) > 0; {
		var attr tlv
		if attr, b, err = berNext(b); err != nil {
			return ldapEntry{}, err
		}
		typ, vals, err := berNext(attr.content)
		if err != nil {
			return ldapEntry{}, err
		}
		set, _, err := berNext(vals)
		if err != nil {
			return ldapEntry{}, err
		}
		key := strings.ToLower(string(typ.content))
		for v := set.content; len(v) > 0; {
			var val tlv
			if val, v, err = berNext(v); err != nil {
				return ldapEntry{}, err
			}
			e.attrs[key] = append(e.attrs[key], string(val.content))
		}
	}
	return e, nil
}

// ldapLogin authenticates username with password against c, as Otoroshi's
// LDAP module does: bind as the admin (or anonymously), collect the
// members of the groups the group filters find, find the user with the
// search filter, check group membership, then bind as the user.
func ldapLogin(ctx context.Context, c *Config, username, password string, roots *x509.CertPool) (*Identity, error) {
	if username == "" || password == "" {
		// A bind with an empty password is an unauthenticated bind, which
		// LDAP servers accept as anonymous (RFC 4513 §5.1.2): never a
		// login, whatever allowEmptyPassword says.
		return nil, errBadCredentials
	}
	l, err := ldapDial(ctx, c.ServerURLs, roots)
	if err != nil {
		return nil, err
	}
	defer l.close()
	var admin, adminPassword string
	if c.AdminUsername != nil {
		admin = *c.AdminUsername
	}
	if c.AdminPassword != nil {
		adminPassword = *c.AdminPassword
	}
	if err := l.bind(admin, adminPassword); err != nil {
		if errors.Is(err, errBadCredentials) {
			return nil, fmt.Errorf("%w: the module's admin bind was refused", ErrLDAPUnavailable)
		}
		return nil, err
	}
	base := c.SearchBase
	if c.UserBase != nil && strings.TrimSpace(*c.UserBase) != "" {
		base = strings.TrimSpace(*c.UserBase) + "," + c.SearchBase
	}
	members := map[string][]string{} // lower-cased member DN → group filters
	for _, g := range c.GroupFilters {
		groups, err := l.search(c.SearchBase, g.Group, []string{"member", "uniqueMember", "memberUid", "cn"})
		if err != nil {
			return nil, err
		}
		for _, e := range groups {
			for _, dn := range append(e.attrs["member"], e.attrs["uniquemember"]...) {
				members[normDN(dn)] = append(members[normDN(dn)], e.first("cn"))
			}
			for _, uid := range e.attrs["memberuid"] {
				dn := "uid=" + uid + "," + base
				members[normDN(dn)] = append(members[normDN(dn)], e.first("cn"))
			}
		}
	}
	filter := strings.ReplaceAll(c.SearchFilter, "${username}", escapeFilterValue(username))
	attrs := []string{c.NameField, c.EmailField}
	if c.MetadataField != nil && *c.MetadataField != "" {
		attrs = append(attrs, *c.MetadataField)
	}
	users, err := l.search(base, filter, attrs)
	if err != nil {
		return nil, err
	}
	if len(users) != 1 {
		return nil, errBadCredentials // unknown, or ambiguous: never guess
	}
	u := users[0]
	groups := members[normDN(u.dn)]
	if len(c.GroupFilters) > 0 && len(groups) == 0 {
		return nil, errBadCredentials
	}
	if err := l.bind(u.dn, password); err != nil {
		return nil, err
	}
	id := &Identity{Name: u.first(c.NameField), Email: u.first(c.EmailField), Groups: groups}
	if id.Email == "" {
		id.Email = username
	}
	meta := map[string]any{}
	if len(c.ExtraMetadata) > 0 {
		_ = json.Unmarshal(c.ExtraMetadata, &meta)
	}
	if c.MetadataField != nil && *c.MetadataField != "" {
		if v := u.first(*c.MetadataField); v != "" {
			_ = json.Unmarshal([]byte(v), &meta)
		}
	}
	id.Metadata, _ = json.Marshal(meta)
	prof := map[string]any{"dn": u.dn}
	for k, v := range u.attrs {
		prof[k] = v[0]
	}
	id.Profile, _ = json.Marshal(prof)
	return id, nil
}

// normDN lower-cases a DN and drops the spaces after its separators, so
// "uid=Bob, ou=People" and "uid=bob,ou=people" compare equal.
func normDN(dn string) string {
	parts := strings.Split(dn, ",")
	for i, p := range parts {
		parts[i] = strings.ToLower(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}
