package apikey

import (
	"crypto/sha256"
	"crypto/sha512"
	"hash"
)

// scratchInitial is the initial size of a Scratch's decoding buffer: enough
// for the Basic credentials and JWTs seen in practice. It grows on demand up
// to the largest header the parser accepts.
const scratchInitial = 2 << 10

// Scratch holds the buffers and hash states Check needs, so that it does not
// allocate. Each event loop owns one; a Scratch is not safe for concurrent use
// and must never be shared between goroutines. Bytes Check derives from it
// are only valid until the next call with the same Scratch.
type Scratch struct {
	sha256, sha384, sha512 hash.Hash

	buf   []byte    // base64 decoding and path unescaping
	pad   [128]byte // HMAC ipad / opad block
	key   [64]byte  // HMAC key hashed down when longer than a block
	inner [64]byte  // inner HMAC digest
	mac   [64]byte  // computed MAC
}

// NewScratch returns a Scratch for one event loop.
func NewScratch() *Scratch {
	return &Scratch{
		sha256: sha256.New(),
		sha384: sha512.New384(),
		sha512: sha512.New(),
		buf:    make([]byte, scratchInitial),
	}
}

// grow returns the decoding buffer with at least n bytes.
func (sc *Scratch) grow(n int) []byte {
	if cap(sc.buf) < n {
		sc.buf = make([]byte, n)
	}
	return sc.buf[:n]
}

// hmacSum computes HMAC (RFC 2104) of msg with key and hash h of block size
// block, reusing the scratch hash state. crypto/hmac.New allocates a new
// state per key; this keeps one per loop. The result aliases sc.mac.
func (sc *Scratch) hmacSum(h hash.Hash, block int, key, msg []byte) []byte {
	if len(key) > block {
		h.Reset()
		h.Write(key)
		key = h.Sum(sc.key[:0])
	}
	pad := sc.pad[:block]
	for i := range pad {
		var b byte
		if i < len(key) {
			b = key[i]
		}
		pad[i] = b ^ 0x36
	}
	h.Reset()
	h.Write(pad)
	h.Write(msg)
	inner := h.Sum(sc.inner[:0])
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	h.Reset()
	h.Write(pad)
	h.Write(inner)
	return h.Sum(sc.mac[:0])
}

// unescapePath decodes the %XX escapes of path into the scratch buffer. It
// reports false for a malformed escape.
func (sc *Scratch) unescapePath(path []byte) ([]byte, bool) {
	out := sc.grow(len(path))[:0]
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c == '%' {
			if i+2 >= len(path) {
				return nil, false
			}
			hi, ok1 := unhex(path[i+1])
			lo, ok2 := unhex(path[i+2])
			if !ok1 || !ok2 {
				return nil, false
			}
			c = hi<<4 | lo
			i += 2
		}
		out = append(out, c)
	}
	return out, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
