package apikey

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"time"
)

// jwtLeeway is the clock skew tolerated on exp and nbf, as Otoroshi's.
const jwtLeeway = 10 // seconds

// isJWT reports whether tok has the compact JWS shape header.payload.signature.
func isJWT(tok []byte) bool {
	return bytes.Count(tok, []byte{'.'}) == 2
}

// jwtClaims are the members Check reads from a JWT payload.
type jwtClaims struct {
	id             []byte
	idRank         int // 1 clientId, 2 client_id, 3 cid, 4 iss; 0 none yet
	exp, nbf       int64
	hasExp, hasNbf bool
	ok             bool
}

// idRanks orders the claims that may carry the client id.
var idRanks = [...]string{1: "clientId", 2: "client_id", 3: "cid", 4: "iss"}

// verifyJWT checks an HS256/384/512 JWT signed with the secret of the key its
// claims name. Decoded bytes live in sc until its next use.
func verifyJWT(sc *Scratch, s *Set, tok []byte, now time.Time) (*Key, *Rejection) {
	d1 := bytes.IndexByte(tok, '.')
	d2 := d1 + 1 + bytes.IndexByte(tok[d1+1:], '.')
	enc := base64.RawURLEncoding
	h64, p64, s64 := tok[:d1], tok[d1+1:d2], tok[d2+1:]
	nh, np, ns := enc.DecodedLen(len(h64)), enc.DecodedLen(len(p64)), enc.DecodedLen(len(s64))
	// One buffer: decoded header, payload, signature, then room to unescape the id.
	buf := sc.grow(nh + np + ns + np)
	hdr, err := decodeB64URL(buf[:0:nh], h64)
	if err != nil {
		return nil, ErrInvalidKey
	}
	payload, err := decodeB64URL(buf[nh:nh:nh+np], p64)
	if err != nil {
		return nil, ErrInvalidKey
	}
	sig, err := decodeB64URL(buf[nh+np:nh+np:nh+np+ns], s64)
	if err != nil {
		return nil, ErrInvalidKey
	}
	idBuf := buf[nh+np+ns:]

	var alg []byte
	ok := walkObject(hdr, func(name, value []byte) bool {
		if string(name) == "alg" {
			if bytes.IndexByte(value, '\\') >= 0 {
				return false // no algorithm name needs escapes
			}
			var good bool
			alg, good = jsonString(value, nil)
			return good
		}
		return true
	})
	if !ok {
		return nil, ErrInvalidKey
	}
	var c jwtClaims
	c.ok = walkObject(payload, func(name, value []byte) bool { return c.visit(name, value) })
	if !c.ok || c.idRank == 0 {
		return nil, ErrInvalidKey
	}
	id, good := jsonString(c.id, idBuf)
	if !good {
		return nil, ErrInvalidKey
	}
	k := lookup(s, id)
	if k == nil {
		return nil, ErrInvalidKey
	}
	h, block := sc.sha256, 64
	switch string(alg) {
	case "HS256":
	case "HS384":
		h, block = sc.sha384, 128
	case "HS512":
		h, block = sc.sha512, 128
	default:
		// "none", RS*, ES*, unknown: never accepted with a secret.
		return k, ErrInvalidKey
	}
	if len(sig) != h.Size() {
		return k, ErrBadJWT
	}
	signed := tok[:d2]
	match := false
	for i := range k.nsecrets {
		if hmac.Equal(sc.hmacSum(h, block, bytesOf(k.secrets[i]), signed), sig) {
			match = true
		}
	}
	if !match {
		return k, ErrBadJWT
	}
	sec := now.Unix()
	if c.hasExp && sec > c.exp+jwtLeeway {
		return k, ErrBadJWT
	}
	if c.hasNbf && sec+jwtLeeway < c.nbf {
		return k, ErrBadJWT
	}
	return k, nil
}

// visit records the client id, exp and nbf members.
func (c *jwtClaims) visit(name, value []byte) bool {
	switch string(name) {
	case "exp":
		c.exp, c.hasExp = jsonInt(value)
		return c.hasExp
	case "nbf":
		c.nbf, c.hasNbf = jsonInt(value)
		return c.hasNbf
	}
	for rank := 1; rank < len(idRanks); rank++ {
		if string(name) == idRanks[rank] {
			if value[0] != '"' {
				return rank == 4 // a non-string iss is not an id; others are malformed
			}
			if c.idRank == 0 || rank < c.idRank {
				c.id, c.idRank = value, rank
			}
		}
	}
	return true
}

// decodeB64URL decodes base64url with or without padding into dst's room.
func decodeB64URL(dst, src []byte) ([]byte, error) {
	src = bytes.TrimRight(src, "=")
	n, err := base64.RawURLEncoding.Decode(dst[:cap(dst)], src)
	return dst[:n], err
}
