package proxyproto

import (
	"bytes"
	"net/netip"
)

// Version 1 is the human-readable header (proxy-protocol.txt, section 2.1):
//
//	"PROXY" SP ( "TCP4" | "TCP6" ) SP srcaddr SP dstaddr SP srcport SP dstport CRLF
//	"PROXY" SP "UNKNOWN" [ anything ] CRLF
//
// Older load balancers (and HAProxy's send-proxy) still write it.

// V1Prefix starts every version 1 header.
const V1Prefix = "PROXY "

// MaxV1 is the longest version 1 header, CRLF included (the specification's
// bound: a reader that has seen this many bytes without CRLF gives up).
const MaxV1 = 107

// ParseV1 reads a version 1 header at the start of b into h and returns its
// length, with the errors of Parse. UNKNOWN leaves the addresses invalid and
// sets Local (the receiver keeps the socket's own address). Only Src and Dst
// are set. It is read once per connection: netip.ParseAddr may allocate
// its input string, at most once per address.
func ParseV1(b []byte, h *Header) (int, error) {
	*h = Header{}
	n := min(len(b), len(V1Prefix))
	if string(b[:n]) != V1Prefix[:n] {
		return 0, ErrNotProxy
	}
	end := bytes.Index(b[:min(len(b), MaxV1)], []byte("\r\n"))
	if end < 0 {
		if len(b) >= MaxV1 {
			return 0, ErrMalformed
		}
		return 0, ErrNeedMore
	}
	line := b[len(V1Prefix):end]
	var f [5][]byte
	nf := 0
	for len(line) > 0 && nf < len(f) {
		i := bytes.IndexByte(line, ' ')
		if i < 0 {
			i = len(line)
		}
		f[nf] = line[:i]
		nf++
		line = line[min(i+1, len(line)):]
	}
	if nf >= 1 && string(f[0]) == "UNKNOWN" {
		h.Local = true
		return end + 2, nil
	}
	if nf != 5 || len(line) > 0 {
		return 0, ErrMalformed
	}
	var v6 bool
	switch string(f[0]) {
	case "TCP4":
	case "TCP6":
		v6 = true
	default:
		return 0, ErrMalformed
	}
	src, ok1 := parseV1Addr(f[1], v6)
	dst, ok2 := parseV1Addr(f[2], v6)
	sp, ok3 := parseV1Port(f[3])
	dp, ok4 := parseV1Port(f[4])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, ErrMalformed
	}
	h.Src = netip.AddrPortFrom(src, sp)
	h.Dst = netip.AddrPortFrom(dst, dp)
	return end + 2, nil
}

// parseV1Addr parses a textual address of the family v6 says.
func parseV1Addr(b []byte, v6 bool) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > 45 {
		return netip.Addr{}, false
	}
	var tmp [45]byte
	n := copy(tmp[:], b)
	a, err := netip.ParseAddr(string(tmp[:n]))
	if err != nil || a.Zone() != "" || a.Is6() != v6 {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parseV1Port parses a decimal port, 0 to 65535, without a leading zero.
func parseV1Port(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	var p uint32
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		p = p*10 + uint32(c-'0')
	}
	return uint16(p), p <= 65535
}
