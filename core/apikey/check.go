package apikey

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/httpparse"
)

// MaxDrop is the largest number of header fields one credential spans
// (Otoroshi-Client-Id and Otoroshi-Client-Secret).
const MaxDrop = 2

// Result is the outcome of a successful Check.
type Result struct {
	// Key is the authenticated key, or nil when the path is public (or the
	// policy not mandatory) and the request presented no credentials.
	Key    *Key
	Method Method
	// Counted is true when the call was counted against the key's quotas;
	// Rem then holds what remains, for the Otoroshi-*-Calls-Remaining headers.
	Counted bool
	Rem     quota.Remaining
	// RetryAfter is the Retry-After value in seconds when Check returns
	// ErrTooManyRequests: until the last exhausted window ends.
	RetryAfter int
	// Drop holds the indexes in req.Headers of the NDrop fields that carry
	// the credentials, to remove before calling the backend.
	Drop  [MaxDrop]int
	NDrop int
}

// Dropped returns the indexes of the header fields to remove. The slice
// aliases r.
func (r *Result) Dropped() []int { return r.Drop[:r.NDrop] }

func (r *Result) drop(i int) {
	if i >= 0 && r.NDrop < MaxDrop {
		r.Drop[r.NDrop] = i
		r.NDrop++
	}
}

// Check authenticates the request req (parsed from buf) for the route
// routeID, member of routeGroups, and counts the call against the key's
// quotas in q (nil: no counting). It follows Otoroshi's extraction order;
// the first method whose credentials are present decides, and bad
// credentials are refused rather than skipped; credentials in a field that
// appears twice are malformed (ErrInvalidTuple). Then it checks, when
// p.Validate, that the key is enabled, not past validUntil, authorized on the
// route, and, for a read-only key, that the method is GET, HEAD or OPTIONS.
//
// On a public path (see Public), or when the policy is not mandatory, a
// request without credentials passes with a nil Result.Key; credentials that
// are present are still checked and counted. Outside the plugin's scope
// (see Applies) Check does nothing and returns a nil Key.
//
// Paths are matched without the query, percent-escapes decoded. A path with
// a dot segment (also with "\" as separator), an empty segment ("//") or a
// malformed escape is never public and always in scope, so an encoding or
// slash trick cannot turn a private path into a public one.
//
// It returns a sentinel *Rejection on refusal; Result.Key then names the key
// when one was identified (a valid key refused for its state, method or
// quota), for the request's event only. It does not allocate (beyond
// quota.Counters.Take's first call for a key and the growth of sc), never
// blocks, and is safe for concurrent use with distinct Scratch values. buf
// must hold the request head req was parsed from; nothing derived from it is
// retained. Secrets never leave this function.
func (p *Policy) Check(s *Set, q *quota.Counters, sc *Scratch, req *httpparse.Request, buf []byte, routeID string, routeGroups []string, now time.Time) (Result, *Rejection) {
	var res Result
	path := req.Path.Bytes(buf)
	if !p.Applies(sc, path) {
		return Result{}, nil
	}
	required := p.Mandatory && !p.Public(sc, path)

	var idx [numSlots]int
	dup := p.scan(req, buf, &idx)
	k, rej := p.extract(sc, s, req, buf, &idx, dup, now, &res)
	if k != nil && p.Validate && !k.AuthorizedOn(routeID, routeGroups) {
		// Otoroshi looks the key up for the route before it checks the credentials
		// (findAuthorizeKeyFor): a key authorized elsewhere is not found. The event names
		// the key only when its credentials were right.
		if rej != nil {
			return Result{}, ErrInvalidKey
		}
		return Result{Key: k}, ErrInvalidKey
	}
	if rej != nil {
		return Result{}, rej
	}
	if k == nil {
		if required {
			return Result{}, ErrNoKey
		}
		return Result{}, nil
	}
	if p.Validate {
		// A refused key is still named in Result.Key, for the request's
		// event; the caller must not treat it as authenticated.
		if !k.Usable(now) {
			// Otoroshi writes a key past validUntil as disabled; a disabled key's secret
			// never matches (ApiKey.isValid).
			return Result{Key: k}, ErrBadKey
		}
		if k.ReadOnly && !readMethod(req.MethodKind) {
			return Result{Key: k}, ErrReadOnly
		}
	}
	res.Key = k
	if !p.Wipe {
		res.NDrop = 0
	}
	if q != nil && p.UpdateQuotas {
		ok, rem, retry := s.Count(q, k, now)
		res.Counted, res.Rem = true, rem
		if !ok {
			if retry == quota.Pending {
				// A cluster-wide lease is on its way: the caller parks the request.
				return res, ErrLeasePending
			}
			res.RetryAfter = int((retry + time.Second - 1) / time.Second)
			return res, ErrTooManyRequests
		}
	}
	return res, nil
}

// Count counts one call of k against q (see quota.Counters.Take), through
// the key's slot when s was compiled with q: the first call looks the slot up
// (q.Slot, allocating it for a client id never counted) and binds it to the
// key, later ones neither look up nor allocate. Two loops binding at once
// bind the same slot. Safe for concurrent use.
func (s *Set) Count(q *quota.Counters, k *Key, now time.Time) (ok bool, rem quota.Remaining, retryAfter time.Duration) {
	if s.counters == q && q != nil {
		sl := k.slot.Load()
		if sl == nil {
			sl = q.Slot(k.ClientID)
			k.slot.Store(sl)
		}
		return q.TakeSlot(sl, k.Limits, now)
	}
	return q.Take(k.ClientID, k.Limits, now)
}

func readMethod(m httpparse.Method) bool {
	return m == httpparse.MethodGet || m == httpparse.MethodHead || m == httpparse.MethodOptions
}

// scan records in idx the index of the first header field of each slot, or
// -1, and returns a bit per slot whose field appears more than once.
func (p *Policy) scan(req *httpparse.Request, buf []byte, idx *[numSlots]int) (dup uint16) {
	for s := range idx {
		idx[s] = -1
	}
	for i := range req.Headers {
		name := req.Headers[i].Name.Bytes(buf)
		for s := range idx {
			if len(name) == len(p.names[s]) && httpparse.EqualFold(name, p.names[s]) {
				if idx[s] < 0 {
					idx[s] = i
				} else {
					dup |= 1 << s
				}
			}
		}
	}
	return dup
}

// extract finds the credentials of the first method that applies, verifies
// them and returns the key, or nil when the request carries none. Credentials
// read from a field that appears more than once (a bit of dup) are malformed:
// only the first field would be checked and dropped, and the next hop would
// see the others.
func (p *Policy) extract(sc *Scratch, s *Set, req *httpparse.Request, buf []byte, idx *[numSlots]int, dup uint16, now time.Time, res *Result) (*Key, *Rejection) {
	twice := func(slots ...int) bool {
		for _, sl := range slots {
			if dup&(1<<sl) != 0 {
				return true
			}
		}
		return false
	}
	value := func(slot int) []byte {
		if idx[slot] < 0 {
			return nil
		}
		return req.Headers[idx[slot]].Value.Bytes(buf)
	}
	authz := value(slotAuthorization)
	authBearer, authIsBearer := cutScheme(authz, "bearer")

	// 1. Otoroshi bearer, in its header or Authorization: Bearer.
	if p.enabled[MethodBearer] {
		if tok := optionalScheme(value(slotBearer), "bearer"); bytes.HasPrefix(tok, []byte(bearerPrefix)) {
			res.Method = MethodBearer
			res.drop(idx[slotBearer])
			if twice(slotBearer) {
				return nil, ErrInvalidTuple
			}
			return verifyBearer(s, tok)
		}
		if authIsBearer && bytes.HasPrefix(authBearer, []byte(bearerPrefix)) {
			res.Method = MethodBearer
			res.drop(idx[slotAuthorization])
			if twice(slotAuthorization) {
				return nil, ErrInvalidTuple
			}
			return verifyBearer(s, authBearer)
		}
	}
	// 2. Client id alone.
	if p.enabled[MethodClientID] {
		if id := value(slotClientID); len(id) > 0 {
			res.Method = MethodClientID
			res.drop(idx[slotClientID])
			if twice(slotClientID) {
				return nil, ErrInvalidTuple
			}
			k := lookup(s, id)
			if k == nil {
				return nil, ErrInvalidKey
			}
			if !k.AllowClientIDOnly {
				return k, ErrClientIDOnly
			}
			return k, nil
		}
	}
	// 3. Client id and secret headers. Like Otoroshi, only the pair counts
	// as credentials; a lone half lets the later methods try, and is no
	// credentials if none applies.
	if p.enabled[MethodCustomHeaders] {
		id, secret := value(slotID), value(slotSecret)
		if len(id) > 0 && len(secret) > 0 {
			res.Method = MethodCustomHeaders
			res.drop(idx[slotID])
			res.drop(idx[slotSecret])
			if twice(slotID, slotSecret) {
				return nil, ErrInvalidTuple
			}
			return verifySecret(s, id, secret)
		}
	}
	// 4. JWT, in its header or Authorization: Bearer.
	if p.enabled[MethodJWT] {
		if tok := optionalScheme(value(slotJWT), "bearer"); isJWT(tok) {
			res.Method = MethodJWT
			res.drop(idx[slotJWT])
			if twice(slotJWT) {
				return nil, ErrInvalidTuple
			}
			return verifyJWT(sc, s, tok, now)
		}
		if authIsBearer && isJWT(authBearer) {
			res.Method = MethodJWT
			res.drop(idx[slotAuthorization])
			if twice(slotAuthorization) {
				return nil, ErrInvalidTuple
			}
			return verifyJWT(sc, s, authBearer, now)
		}
	}
	// 5. Basic, in its header or Authorization: Basic.
	if p.enabled[MethodBasic] {
		cred, at, slot := optionalScheme(value(slotBasic), "basic"), idx[slotBasic], slotBasic
		if at < 0 {
			cred, _ = cutScheme(authz, "basic")
			at, slot = idx[slotAuthorization], slotAuthorization
		}
		if cred != nil {
			res.Method = MethodBasic
			res.drop(at)
			if twice(slot) {
				return nil, ErrInvalidTuple
			}
			return verifyBasic(sc, s, cred)
		}
	}
	return nil, nil
}

func lookup(s *Set, id []byte) *Key {
	if s == nil {
		return nil
	}
	return s.Lookup(id)
}

// verifyBearer checks otoapk_<clientId>_<hex hmac> against the tokens of the
// key it names, in constant time.
func verifyBearer(s *Set, tok []byte) (*Key, *Rejection) {
	last := bytes.LastIndexByte(tok, '_')
	if last <= len(bearerPrefix) || last == len(tok)-1 {
		return nil, ErrInvalidKey
	}
	k := lookup(s, tok[len(bearerPrefix):last])
	if k == nil {
		return nil, ErrInvalidKey
	}
	// The key keeps the HMACs, not the tokens: the hex after the last '_' must be the lowercase
	// hex of one of them (what BearerToken writes).
	var mac [sha256.Size]byte
	if !lowerHex(mac[:], tok[last+1:]) {
		return k, ErrInvalidKey
	}
	match := 0
	for i := range int(k.nsecrets) {
		match |= subtle.ConstantTimeCompare(k.macs[i*sha256.Size:(i+1)*sha256.Size], mac[:])
	}
	if match == 0 {
		return k, ErrInvalidKey
	}
	return k, nil
}

// lowerHex decodes src, lowercase hex of exactly len(dst) bytes, into dst; false for anything
// else.
func lowerHex(dst, src []byte) bool {
	if len(src) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, lo := hexVal(src[2*i]), hexVal(src[2*i+1])
		if hi > 15 || lo > 15 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// hexVal is the value of a lowercase hex digit, or 255.
func hexVal(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 255
}

// verifySecret checks a client id and secret pair, comparing the secret in
// constant time with the current and, during rotation, the next secret.
func verifySecret(s *Set, id, secret []byte) (*Key, *Rejection) {
	k := lookup(s, id)
	if k == nil {
		return nil, ErrInvalidKey
	}
	match := 0
	for i := range k.nsecrets {
		match |= subtle.ConstantTimeCompare(bytesOf(k.secrets[i]), secret)
	}
	if match == 0 {
		return k, ErrBadKey
	}
	return k, nil
}

// verifyBasic decodes base64(clientId:clientSecret) into the scratch buffer.
func verifyBasic(sc *Scratch, s *Set, cred []byte) (*Key, *Rejection) {
	enc := base64.StdEncoding
	if len(cred)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	dst := sc.grow(enc.DecodedLen(len(cred)))
	n, err := enc.Decode(dst, cred)
	if err != nil {
		return nil, ErrNoKey
	}
	id, secret, ok := bytes.Cut(dst[:n], []byte{':'})
	id, secret = bytes.TrimSpace(id), bytes.TrimSpace(secret)
	if !ok || len(id) == 0 || len(secret) == 0 {
		return nil, ErrNoKey
	}
	return verifySecret(s, id, secret)
}

// cutScheme returns the credentials after an auth-scheme (RFC 9110 §11.4:
// credentials = auth-scheme [ 1*SP token68 ]), matched case-insensitively.
func cutScheme(v []byte, scheme string) ([]byte, bool) {
	if len(v) <= len(scheme) || v[len(scheme)] != ' ' || !httpparse.EqualFold(v[:len(scheme)], scheme) {
		return nil, false
	}
	return bytes.TrimLeft(v[len(scheme):], " "), true
}

// optionalScheme strips scheme from v if present: Otoroshi's own headers
// carry credentials with or without it.
func optionalScheme(v []byte, scheme string) []byte {
	if c, ok := cutScheme(v, scheme); ok {
		return c
	}
	return v
}

// AppendQuotaHeaders appends the Otoroshi-Daily-Calls-Remaining and
// Otoroshi-Monthly-Calls-Remaining response header lines (with CRLF) for rem
// to dst. It does not allocate when dst has room.
func AppendQuotaHeaders(dst []byte, rem quota.Remaining) []byte {
	dst = append(dst, "Otoroshi-Daily-Calls-Remaining: "...)
	dst = strconv.AppendInt(dst, rem.Daily, 10)
	dst = append(dst, "\r\nOtoroshi-Monthly-Calls-Remaining: "...)
	dst = strconv.AppendInt(dst, rem.Monthly, 10)
	return append(dst, "\r\n"...)
}
