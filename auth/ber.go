package auth

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// A minimal BER (X.690) codec for the LDAPv3 messages Torii sends and reads
// (RFC 4511): definite lengths only, tags of one byte.

// BER tag classes and the constructed bit.
const (
	classUniversal   = 0x00
	classApplication = 0x40
	classContext     = 0x80
	constructed      = 0x20
)

// Universal tags used by LDAP.
const (
	tagBoolean     = 0x01
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagEnumerated  = 0x0a
	tagSequence    = 0x10 | constructed
	tagSet         = 0x11 | constructed
)

// maxLDAPMessage bounds one message read from a server: a search entry with
// large attributes fits; a hostile or broken server cannot make Torii
// allocate without end.
const maxLDAPMessage = 1 << 20

var errBER = errors.New("auth: malformed LDAP message")

// berAppend appends one TLV.
func berAppend(dst []byte, tag byte, content []byte) []byte {
	dst = append(dst, tag)
	dst = berLen(dst, len(content))
	return append(dst, content...)
}

func berLen(dst []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n < 0x100:
		return append(dst, 0x81, byte(n))
	case n < 0x10000:
		return append(dst, 0x82, byte(n>>8), byte(n))
	default:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
}

func berString(dst []byte, tag byte, s string) []byte { return berAppend(dst, tag, []byte(s)) }

func berInt(dst []byte, tag byte, v int) []byte {
	var b []byte
	for {
		b = append([]byte{byte(v)}, b...)
		v >>= 8
		if v == 0 && b[0] < 0x80 {
			break
		}
	}
	return berAppend(dst, tag, b)
}

func berBool(dst []byte, v bool) []byte {
	if v {
		return berAppend(dst, tagBoolean, []byte{0xff})
	}
	return berAppend(dst, tagBoolean, []byte{0})
}

// tlv is one decoded element; content aliases the message buffer.
type tlv struct {
	tag     byte
	content []byte
}

// berNext splits the first element off b.
func berNext(b []byte) (tlv, []byte, error) {
	if len(b) < 2 {
		return tlv{}, nil, errBER
	}
	tag := b[0]
	n, hdr := int(b[1]), 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 3 || len(b) < 2+k {
			return tlv{}, nil, errBER
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		hdr += k
	}
	if len(b)-hdr < n {
		return tlv{}, nil, errBER
	}
	return tlv{tag: tag, content: b[hdr : hdr+n]}, b[hdr+n:], nil
}

// berInteger decodes an INTEGER or ENUMERATED content.
func berInteger(c []byte) (int, error) {
	if len(c) == 0 || len(c) > 4 {
		return 0, errBER
	}
	v := int(int8(c[0]))
	for _, b := range c[1:] {
		v = v<<8 | int(b)
	}
	return v, nil
}

// berRead reads one whole element from r.
func berRead(r *bufio.Reader) ([]byte, error) {
	head := make([]byte, 2, 8)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, err
	}
	n := int(head[1])
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 3 {
			return nil, errBER
		}
		ext := make([]byte, k)
		if _, err := io.ReadFull(r, ext); err != nil {
			return nil, err
		}
		head = append(head, ext...)
		n = 0
		for _, c := range ext {
			n = n<<8 | int(c)
		}
	}
	if n > maxLDAPMessage {
		return nil, fmt.Errorf("auth: LDAP message of %d bytes is over the %d limit", n, maxLDAPMessage)
	}
	msg := make([]byte, len(head)+n)
	copy(msg, head)
	if _, err := io.ReadFull(r, msg[len(head):]); err != nil {
		return nil, err
	}
	return msg, nil
}
