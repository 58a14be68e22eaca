// Package proxyproto writes and reads the PROXY protocol version 2 header (HAProxy's
// proxy-protocol.txt, section 2.2): the binary preamble a TCP hop puts in front of a stream to
// carry the original client's address, plus TLVs. Torii's TLS listener writes one in front of
// each decrypted stream it hands to the event loops (client address, SNI, ALPN, client
// certificate), and a plaintext listener behind a TCP load balancer can read one.
//
// # Caveats
//
// Parse never allocates: the Header it fills holds spans into the caller's buffer, valid as long
// as that buffer is. Append appends to dst and is safe from any goroutine.
package proxyproto

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Signature is the 12-byte preamble of every version 2 header.
const Signature = "\r\n\r\n\x00\r\nQUIT\n"

// Version and command byte values (high nibble version 2, low nibble command).
const (
	cmdLocal = 0x20
	cmdProxy = 0x21
)

// Address family and transport byte values.
const (
	famUnspec    = 0x00
	famTCP4      = 0x11
	famTCP6      = 0x21
	lenAddrsTCP4 = 12
	lenAddrsTCP6 = 36
)

// TLV types. The first ones are the specification's; 0xE0-0xEF is the range it leaves to
// applications, where Torii puts what the specification has no type for.
const (
	TypeALPN      = 0x01 // the negotiated application protocol
	TypeAuthority = 0x02 // the host name the client asked for (TLS SNI)
	TypeSSL       = 0x20 // TLS details, with sub-TLVs below
	SubVersion    = 0x21 // TLS version, e.g. "TLSv1.3"
	SubCN         = 0x22 // client certificate subject common name
	SubCipher     = 0x23 // cipher suite name
	// TypeClientFingerprint is the SHA-256 of the client certificate, lowercase hex (Torii).
	TypeClientFingerprint = 0xE0
	// TypeClientSubject is the client certificate's full subject DN (Torii).
	TypeClientSubject = 0xE1
	// TypeClientVerified names the store CA (by certificate id) that verified the client
	// certificate; absent when the certificate was not verified (Torii).
	TypeClientVerified = 0xE2
	// TypeClientSerial is the client certificate's serial number, lower-case hex without
	// leading zeros (Java's BigInteger.toString(16), what Otoroshi matches) (Torii).
	TypeClientSerial = 0xE3
	// TypeClientIssuer is the client certificate's issuer DN (Torii).
	TypeClientIssuer = 0xE4
)

// SSL client bits (the first byte of a TypeSSL value).
const (
	ClientSSL      = 0x01 // the client connected over TLS
	ClientCertConn = 0x02 // the client presented a certificate on this connection
	ClientCertSess = 0x04 // the client presented a certificate at least once in the session
)

// MaxHeader bounds a header: 16 fixed bytes plus the 16-bit length. A reader that sees a longer
// length refuses the stream (memory held by a peer that never finishes its header).
const MaxHeader = 16 + 4096

// Errors of Parse.
var (
	// ErrNeedMore says the buffer holds the start of a header but not all of it.
	ErrNeedMore = errors.New("proxyproto: need more bytes")
	// ErrNotProxy says the buffer does not start with the version 2 signature.
	ErrNotProxy = errors.New("proxyproto: no PROXY protocol v2 signature")
	// ErrMalformed says the header is not well formed (version, family, lengths or TLVs).
	ErrMalformed = errors.New("proxyproto: malformed header")
)

// Header is what a version 2 header carries. The byte slices are spans into the parsed buffer.
type Header struct {
	Local       bool // LOCAL command: a health check by the proxy itself, no client address
	Src, Dst    netip.AddrPort
	ALPN        []byte
	Authority   []byte
	SSL         bool // the client connected over TLS (TypeSSL with ClientSSL)
	ClientCert  bool // the client presented a certificate on this connection
	TLSVersion  []byte
	Cipher      []byte
	ClientCN    []byte
	Fingerprint []byte
	Subject     []byte
	VerifiedBy  []byte
	Serial      []byte
	Issuer      []byte
}

// Info is what Append writes; strings, so that a writer can build it from crypto/tls state.
type Info struct {
	Src, Dst    netip.AddrPort
	ALPN        string
	Authority   string
	SSL         bool
	ClientCert  bool
	TLSVersion  string
	Cipher      string
	ClientCN    string
	Fingerprint string
	Subject     string
	VerifiedBy  string
	Serial      string
	Issuer      string
}

// Append appends the PROXY v2 header of in to dst. Addresses of different families are written
// as IPv6 (IPv4-mapped); an invalid source writes an UNSPEC family with no addresses.
func Append(dst []byte, in *Info) []byte {
	dst = append(dst, Signature...)
	dst = append(dst, cmdProxy)
	src, dstA := in.Src.Addr().Unmap(), in.Dst.Addr().Unmap()
	start := len(dst)
	switch {
	case !src.IsValid():
		dst = append(dst, famUnspec, 0, 0)
	case src.Is4() && dstA.Is4():
		dst = append(dst, famTCP4, 0, 0)
		s4, d4 := src.As4(), dstA.As4()
		dst = append(dst, s4[:]...)
		dst = append(dst, d4[:]...)
		dst = binary.BigEndian.AppendUint16(dst, in.Src.Port())
		dst = binary.BigEndian.AppendUint16(dst, in.Dst.Port())
	default:
		dst = append(dst, famTCP6, 0, 0)
		s16, d16 := in.Src.Addr().As16(), in.Dst.Addr().As16()
		dst = append(dst, s16[:]...)
		dst = append(dst, d16[:]...)
		dst = binary.BigEndian.AppendUint16(dst, in.Src.Port())
		dst = binary.BigEndian.AppendUint16(dst, in.Dst.Port())
	}
	dst = appendTLV(dst, TypeALPN, in.ALPN)
	dst = appendTLV(dst, TypeAuthority, in.Authority)
	if in.SSL {
		dst = append(dst, TypeSSL, 0, 0)
		sslAt := len(dst)
		bits := byte(ClientSSL)
		if in.ClientCert {
			bits |= ClientCertConn | ClientCertSess
		}
		verify := uint32(1) // not verified
		if in.VerifiedBy != "" {
			verify = 0
		}
		dst = append(dst, bits)
		dst = binary.BigEndian.AppendUint32(dst, verify)
		dst = appendTLV(dst, SubVersion, in.TLSVersion)
		dst = appendTLV(dst, SubCN, in.ClientCN)
		dst = appendTLV(dst, SubCipher, in.Cipher)
		binary.BigEndian.PutUint16(dst[sslAt-2:], uint16(len(dst)-sslAt))
	}
	dst = appendTLV(dst, TypeClientFingerprint, in.Fingerprint)
	dst = appendTLV(dst, TypeClientSubject, in.Subject)
	dst = appendTLV(dst, TypeClientVerified, in.VerifiedBy)
	dst = appendTLV(dst, TypeClientSerial, in.Serial)
	dst = appendTLV(dst, TypeClientIssuer, in.Issuer)
	binary.BigEndian.PutUint16(dst[start+1:], uint16(len(dst)-start-3))
	return dst
}

// appendTLV appends one TLV; empty values are left out. Values are cut to 1024 bytes (a subject
// DN can be long; nothing legitimate is longer).
func appendTLV(dst []byte, typ byte, v string) []byte {
	if v == "" {
		return dst
	}
	if len(v) > 1024 {
		v = v[:1024]
	}
	dst = append(dst, typ)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(v)))
	return append(dst, v...)
}

// Parse reads a version 2 header at the start of b into h and returns its length. It returns
// ErrNeedMore when b is a proper prefix of a header, ErrNotProxy when b cannot start one, and
// ErrMalformed for a bad header. Unknown TLVs are skipped.
func Parse(b []byte, h *Header) (int, error) {
	*h = Header{}
	n := min(len(b), len(Signature))
	if string(b[:n]) != Signature[:n] {
		return 0, ErrNotProxy
	}
	if len(b) < 16 {
		return 0, ErrNeedMore
	}
	l := int(binary.BigEndian.Uint16(b[14:16]))
	if 16+l > MaxHeader {
		return 0, ErrMalformed
	}
	if len(b) < 16+l {
		return 0, ErrNeedMore
	}
	body := b[16 : 16+l]
	switch b[12] {
	case cmdLocal:
		h.Local = true
		return 16 + l, nil
	case cmdProxy:
	default:
		return 0, ErrMalformed
	}
	var rest []byte
	switch b[13] {
	case famTCP4:
		if l < lenAddrsTCP4 {
			return 0, ErrMalformed
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
		rest = body[lenAddrsTCP4:]
	case famTCP6:
		if l < lenAddrsTCP6 {
			return 0, ErrMalformed
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])).Unmap(), binary.BigEndian.Uint16(body[32:34]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])).Unmap(), binary.BigEndian.Uint16(body[34:36]))
		rest = body[lenAddrsTCP6:]
	case famUnspec:
		rest = body
	default:
		return 0, ErrMalformed
	}
	if err := h.tlvs(rest, false); err != nil {
		return 0, err
	}
	return 16 + l, nil
}

func (h *Header) tlvs(b []byte, inSSL bool) error {
	for len(b) > 0 {
		if len(b) < 3 {
			return ErrMalformed
		}
		typ, l := b[0], int(binary.BigEndian.Uint16(b[1:3]))
		if len(b) < 3+l {
			return ErrMalformed
		}
		v := b[3 : 3+l]
		b = b[3+l:]
		switch {
		case inSSL && typ == SubVersion:
			h.TLSVersion = v
		case inSSL && typ == SubCN:
			h.ClientCN = v
		case inSSL && typ == SubCipher:
			h.Cipher = v
		case inSSL:
		case typ == TypeALPN:
			h.ALPN = v
		case typ == TypeAuthority:
			h.Authority = v
		case typ == TypeSSL:
			if len(v) < 5 {
				return ErrMalformed
			}
			h.SSL = v[0]&ClientSSL != 0
			h.ClientCert = v[0]&ClientCertConn != 0
			if err := h.tlvs(v[5:], true); err != nil {
				return err
			}
		case typ == TypeClientFingerprint:
			h.Fingerprint = v
		case typ == TypeClientSubject:
			h.Subject = v
		case typ == TypeClientVerified:
			h.VerifiedBy = v
		case typ == TypeClientSerial:
			h.Serial = v
		case typ == TypeClientIssuer:
			h.Issuer = v
		}
	}
	return nil
}
