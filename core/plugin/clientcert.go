package plugin

import (
	"path"
	"regexp"
	"strconv"

	"github.com/torii-gateway/torii/httpparse"
)

// Client certificates and HTTPS (issue 17). The TLS listener (package tlsedge) asks for a client
// certificate on the server names of routes that list NgHasClientCertValidator or
// NgHasClientCertMatchingValidator, verifies it against the CA certificates of the store, and
// passes what it found in Ctx.Cert with the server name in Ctx.SNI.
//
// NgHasClientCertValidator lets a request through only over TLS, with a client certificate that
// a store CA verified, and with a Host equal to the SNI of its connection: a client that made its
// handshake for a name without client authentication cannot reach an mTLS route by sending that
// route's domain in Host (the SNI/Host mismatch of known ingress mTLS bypasses, and HTTP/2
// connection coalescing). A mismatch is 421 Misdirected Request, which tells a client to retry on
// a connection made for that name; no certificate or an unverified one is 403, Otoroshi's answer.
// NgHasClientCertMatchingValidator adds Otoroshi's subject checks (subject_dns with '*'
// wildcards, regex_subject_dns). Both pass the certificate's subject and SHA-256 fingerprint to
// the backend in X-Client-Cert-Subject and X-Client-Cert-Fingerprint, replacing any a client sent.
//
// ForceHttpsTraffic answers a plaintext request with 303 to the same URL in https (Otoroshi's
// Redirect), on Ctx.HTTPSPort when it is not 443.

// ClientCert is what the TLS listener said of the connection's client certificate.
type ClientCert struct {
	Present     bool
	Subject     string // RFC 2253 subject DN
	Fingerprint string // SHA-256 of the certificate, lower-case hex
	VerifiedBy  string // id of the store CA that verified it; "" when none did
}

// The headers the client-certificate validators send to the backend.
const (
	HeaderCertSubject     = "X-Client-Cert-Subject"
	HeaderCertFingerprint = "X-Client-Cert-Fingerprint"
)

func init() {
	Names = append(Names, "NgHasClientCertValidator", "NgHasClientCertMatchingValidator", "ForceHttpsTraffic")
}

// clientCertCheck is one client-certificate validator.
type clientCertCheck struct {
	subjects []string         // subject_dns: exact, or path.Match patterns with '*'
	regexps  []*regexp.Regexp // regex_subject_dns
}

func (cc *clientCertCheck) check(x *Ctx, _ *Exchange) Verdict {
	if !x.TLS {
		return Verdict{Refuse: RefusalClientCert}
	}
	if !httpparse.EqualFold(hostOnly(x.Req.Host.Bytes(x.Buf)), x.SNI) {
		return Verdict{Refuse: RefusalMisdirected}
	}
	if !x.Cert.Present || x.Cert.VerifiedBy == "" {
		return Verdict{Refuse: RefusalClientCert}
	}
	if len(cc.subjects)+len(cc.regexps) == 0 {
		return Verdict{}
	}
	for _, s := range cc.subjects {
		if s == x.Cert.Subject {
			return Verdict{}
		}
		if ok, _ := path.Match(s, x.Cert.Subject); ok {
			return Verdict{}
		}
	}
	for _, re := range cc.regexps {
		if re.MatchString(x.Cert.Subject) {
			return Verdict{}
		}
	}
	return Verdict{Refuse: RefusalClientCert}
}

// addClientCert compiles NgHasClientCertValidator or NgHasClientCertMatchingValidator.
func (c *Chain) addClientCert(f *fields) {
	cc := &clientCertCheck{}
	if f.name == "NgHasClientCertMatchingValidator" {
		cc.subjects = f.strs("subject_dns")
		for i, r := range f.strs("regex_subject_dns") {
			re, err := regexp.Compile("^(?:" + r + ")$")
			if err != nil {
				f.fail("regex_subject_dns["+strconv.Itoa(i)+"]", "bad regular expression %q: %v", r, err)
				continue
			}
			cc.regexps = append(cc.regexps, re)
		}
		for _, unsupported := range []string{"serial_numbers", "issuer_dns", "regex_issuer_dns"} {
			if len(f.strs(unsupported)) > 0 {
				f.fail(unsupported, "not supported by Torii: match the subject (subject_dns, regex_subject_dns) or the verifying CA")
			}
		}
	}
	c.access = append(c.access, accessEntry{check: cc, bit: f.bit})
	if !c.certHeaders {
		c.certHeaders, c.certBit = true, f.bit
		c.reqDrop = appendDrop(c.reqDrop, "x-client-cert-subject", 0)
		c.reqDrop = appendDrop(c.reqDrop, "x-client-cert-fingerprint", 0)
	}
}

// appendCertHeaders appends the client certificate's subject and fingerprint for the backend.
func (c *Chain) appendCertHeaders(dst []byte, x *Ctx, xs *Exchange) []byte {
	if !c.certHeaders || xs.off&c.certBit != 0 || !x.Cert.Present || x.Cert.VerifiedBy == "" {
		return dst
	}
	dst = append(dst, HeaderCertSubject+": "...)
	dst = appendVisible(dst, x.Cert.Subject)
	dst = append(dst, "\r\n"+HeaderCertFingerprint+": "...)
	dst = appendVisible(dst, x.Cert.Fingerprint)
	return append(dst, "\r\n"...)
}

// appendVisible appends s without its control bytes: a subject DN is chosen by whoever made the
// certificate and must not split the request head.
func appendVisible(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b >= 0x20 && b != 0x7f {
			dst = append(dst, b)
		}
	}
	return dst
}

// forceHTTPS is ForceHttpsTraffic.
type forceHTTPS struct{}

func (forceHTTPS) check(x *Ctx, _ *Exchange) Verdict {
	if x.TLS {
		return Verdict{}
	}
	return Verdict{Respond: true, answer: forceHTTPS{}}
}

func (forceHTTPS) status() int { return 303 }

func (forceHTTPS) appendAnswer(dst []byte, x *Ctx) []byte {
	dst = append(dst, "HTTP/1.1 303 See Other\r\nLocation: https://"...)
	dst = append(dst, hostOnly(x.Req.Host.Bytes(x.Buf))...)
	if x.HTTPSPort != 0 && x.HTTPSPort != 443 {
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(x.HTTPSPort), 10)
	}
	if x.Req.Path.Len() == 0 {
		dst = append(dst, '/')
	} else {
		dst = append(dst, x.Req.Path.Bytes(x.Buf)...)
	}
	if x.Req.Query.Len() > 0 {
		dst = append(dst, '?')
		dst = append(dst, x.Req.Query.Bytes(x.Buf)...)
	}
	return append(dst, "\r\n"...)
}
