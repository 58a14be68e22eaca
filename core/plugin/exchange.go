package plugin

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/httpparse"
)

// The exchange protocol's defaults (Otoroshi's otoroshi.headers.comm.* and
// otoroshi.headers.jwt.issuer).
const (
	HeaderState     = "Otoroshi-State"
	HeaderStateResp = "Otoroshi-State-Resp"
	HeaderClaim     = "Otoroshi-Claim"
	Issuer          = "Otoroshi"
)

// stateLen is the length of a challenge state value: Otoroshi sends
// IdGenerator.extendedToken(128), 128 characters; ours are 96 random bytes
// in base64url.
const stateLen = 128

// scratchPool holds the buffers claims are built in before signing.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getScratch() *[]byte { return scratchPool.Get().(*[]byte) }

func putScratch(b *[]byte) {
	if cap(*b) > 64<<10 {
		return // an oversized claim: do not keep its buffer
	}
	*b = (*b)[:0]
	scratchPool.Put(b)
}

// challenge is OtoroshiChallenge.
type challenge struct {
	v2                  bool
	ttl                 int64 // seconds
	leeway              int64 // seconds
	reqName, respName   string
	reqLower, respLower string
	aud                 string // JSON-quoted route name
	toBackend           *Algo
	fromBackend         *Algo
}

func compileChallenge(f *fields, rt *route.Compiled) *challenge {
	c := &challenge{v2: true, ttl: 30, leeway: 10, reqName: HeaderState, respName: HeaderStateResp}
	if raw, ok := f.cfg["version"]; ok && string(raw) != "null" {
		var n int
		var s string
		switch {
		case json.Unmarshal(raw, &n) == nil:
			c.v2 = n != 1
			if n != 1 && n != 2 {
				f.fail("version", "must be V1 or V2, got %s", raw)
			}
		case json.Unmarshal(raw, &s) == nil:
			switch strings.ToUpper(s) {
			case "V1", "1":
				c.v2 = false
			case "V2", "2":
			default:
				f.fail("version", "must be V1 or V2, got %q", s)
			}
		default:
			f.fail("version", "must be V1 or V2, got %s", raw)
		}
	}
	f.get("ttl", &c.ttl)
	if c.ttl <= 0 {
		f.fail("ttl", "must be > 0 seconds, got %d", c.ttl)
	}
	f.get("state_resp_leeway", &c.leeway)
	if c.leeway < 0 {
		f.fail("state_resp_leeway", "must be >= 0 seconds, got %d", c.leeway)
	}
	if s := strings.TrimSpace(f.str("request_header_name", "")); s != "" {
		c.reqName = s
	}
	if s := strings.TrimSpace(f.str("response_header_name", "")); s != "" {
		c.respName = s
	}
	for field, n := range map[string]string{"request_header_name": c.reqName, "response_header_name": c.respName} {
		if !validFieldName(n) {
			f.fail(field, "%q is not a valid header name", n)
		}
	}
	c.reqLower, c.respLower = strings.ToLower(c.reqName), strings.ToLower(c.respName)
	c.toBackend = algoField(f, "algo_to_backend", true)
	c.fromBackend = algoField(f, "algo_from_backend", false)
	c.aud = quoteJSON(rt.Name)
	if c.toBackend == nil || c.fromBackend == nil {
		return nil
	}
	return c
}

// algoField compiles the AlgoSettings object in field (Otoroshi's default
// HS512 "secret" when absent).
func algoField(f *fields, field string, sign bool) *Algo {
	s := DefaultAlgo
	if raw, ok := f.cfg[field]; ok && string(raw) != "null" && string(raw) != "{}" {
		s = AlgoSettings{}
		if err := json.Unmarshal(raw, &s); err != nil {
			f.fail(field, "bad value %s: %v", raw, err)
			return nil
		}
		if s.Type == "" {
			s.Type = "HSAlgoSettings"
		}
		if s.Size == 0 {
			s.Size = 512
		}
	}
	a, err := NewAlgo(s)
	if err != nil {
		sub, msg, _ := strings.Cut(err.Error(), ": ")
		f.fail(field+"."+sub, "%s", msg)
		return nil
	}
	if sign && !a.canSign() {
		f.fail(field+".privateKey", "signing needs a private key")
		return nil
	}
	return a
}

// quoteJSON returns s as a JSON string literal.
func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// appendState makes up a state, records it in xs and appends the state
// field.
func (c *challenge) appendState(dst []byte, x *Ctx, xs *Exchange) []byte {
	var rnd [stateLen * 3 / 4]byte
	rand.Read(rnd[:])
	base64.RawURLEncoding.Encode(xs.state[:], rnd[:])
	xs.active = true
	dst = append(dst, c.reqName...)
	dst = append(dst, ": "...)
	if !c.v2 {
		dst = append(dst, xs.state[:]...)
		return append(dst, "\r\n"...)
	}
	now := nowOr(x.Now)
	sp := getScratch()
	p := appendClaimHead(*sp, Issuer, c.aud, now, c.ttl)
	p = append(p, `,"state":"`...)
	p = append(p, xs.state[:]...)
	p = append(p, `"}`...)
	dst, _ = c.toBackend.AppendToken(dst, p) // a compiled to_backend algo can sign
	*sp = p
	putScratch(sp)
	return append(dst, "\r\n"...)
}

// appendClaimHead appends the start of an OtoroshiClaim payload, without
// the closing brace: iss, sub, aud, exp, iat, nbr (sic), jti.
func appendClaimHead(p []byte, sub, audJSON string, now time.Time, ttl int64) []byte {
	p = append(p, `{"iss":"`+Issuer+`","sub":`...)
	p = appendJSONString(p, sub)
	p = append(p, `,"aud":`...)
	p = append(p, audJSON...)
	iat := now.Unix()
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, iat+ttl, 10)
	p = append(p, `,"iat":`...)
	p = strconv.AppendInt(p, iat, 10)
	p = append(p, `,"nbr":`...)
	p = strconv.AppendInt(p, iat, 10)
	p = append(p, `,"jti":"`...)
	p = appendUUID(p)
	return append(p, '"')
}

// appendUUID appends a random (version 4) UUID.
func appendUUID(p []byte) []byte {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var h [36]byte
	hex.Encode(h[0:8], u[0:4])
	h[8] = '-'
	hex.Encode(h[9:13], u[4:6])
	h[13] = '-'
	hex.Encode(h[14:18], u[6:8])
	h[18] = '-'
	hex.Encode(h[19:23], u[8:10])
	h[23] = '-'
	hex.Encode(h[24:], u[10:])
	return append(p, h[:]...)
}

// stateResp is the part of a V2 answer token the check reads.
type stateResp struct {
	Aud       json.RawMessage `json:"aud"`
	StateResp *string         `json:"state-resp"`
	Exp       *int64          `json:"exp"`
	Iat       *int64          `json:"iat"`
	Nbf       *int64          `json:"nbf"`
}

// check verifies the backend's answer, as Otoroshi does: V1 echoes the
// state; V2 answers a token signed with algo_from_backend whose aud is
// Otoroshi, state-resp the state, exp and iat present and valid with the
// leeway, and exp - iat at most the ttl. A replayed answer carries an old
// state and fails.
func (c *challenge) check(resp *httpparse.Response, buf []byte, x *Ctx, xs *Exchange) bool {
	if !xs.active {
		return false
	}
	v, ok := resp.Lookup(buf, c.respLower)
	if !ok {
		return false
	}
	ans := v.Bytes(buf)
	if !c.v2 {
		return string(ans) == string(xs.state[:])
	}
	sp := getScratch()
	defer putScratch(sp)
	payload, err := c.fromBackend.Verify(*sp, ans)
	*sp = payload
	if err != nil {
		return false
	}
	var t stateResp
	if json.Unmarshal(payload, &t) != nil {
		return false
	}
	if t.StateResp == nil || *t.StateResp != string(xs.state[:]) || !audHas(t.Aud, Issuer) {
		return false
	}
	if t.Exp == nil || t.Iat == nil {
		return false
	}
	now := nowOr(x.Now).Unix()
	if *t.Exp+c.leeway < now || *t.Iat-c.leeway > now {
		return false
	}
	if t.Nbf != nil && *t.Nbf-c.leeway > now {
		return false
	}
	return *t.Exp-*t.Iat <= c.ttl
}

// audHas reports whether a JWT aud (a string or an array) holds want.
func audHas(raw json.RawMessage, want string) bool {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s == want
	}
	var l []string
	if json.Unmarshal(raw, &l) == nil {
		for _, a := range l {
			if a == want {
				return true
			}
		}
	}
	return false
}
