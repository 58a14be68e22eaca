package plugin

import (
	"regexp"
	"strconv"
	"strings"

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
// NgHasClientCertMatchingValidator adds Otoroshi's matching: the request passes when the
// certificate matches any entry of serial_numbers (lower-case hex without leading zeros, as Java's
// BigInteger.toString(16); ':' separators and upper case are accepted in the config), subject_dns
// or issuer_dns (exact, or '*' wildcards matching any run of characters), regex_subject_dns or
// regex_issuer_dns (whole-DN regular expressions); with every list empty nothing passes, as in
// Otoroshi. DNs are RFC 2253 ("CN=a,O=b,C=FR"); a space after a separating comma in a config
// entry is ignored ("CN=a, O=b" as Java prints it matches too). Otoroshi also matches the
// certificates above the leaf in the presented chain; Torii matches the leaf (the one a store
// CA verified). Both pass the certificate's subject and SHA-256 fingerprint to
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
	Serial      string // serial number, lower-case hex without leading zeros
	Issuer      string // RFC 2253 issuer DN
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
	matching      bool             // NgHasClientCertMatchingValidator: one of the lists must match
	serials       []string         // serial_numbers, normalised (lower-case hex, no ':', no leading zeros)
	subjects      []dnPattern      // subject_dns
	issuers       []dnPattern      // issuer_dns
	subjectRegexp []*regexp.Regexp // regex_subject_dns
	issuerRegexp  []*regexp.Regexp // regex_issuer_dns
}

// dnPattern is an entry of subject_dns or issuer_dns: an exact DN, or one with '*' wildcards.
type dnPattern struct {
	exact string
	re    *regexp.Regexp // set when the entry has a '*'
}

func (p *dnPattern) match(dn string) bool {
	if p.re != nil {
		return p.re.MatchString(dn)
	}
	return p.exact == dn
}

// compileDN makes a dnPattern of s: Otoroshi's '*' matches any run of characters.
func compileDN(s string) dnPattern {
	s = normalizeDN(s)
	if !strings.Contains(s, "*") {
		return dnPattern{exact: s}
	}
	parts := strings.Split(s, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return dnPattern{re: regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")}
}

// normalizeDN drops the spaces after the separating (unescaped) commas of a DN, so that Java's
// "CN=a, O=b" is RFC 2253's "CN=a,O=b".
func normalizeDN(s string) string {
	if !strings.Contains(s, ", ") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		b = append(b, s[i])
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b = append(b, s[i])
			}
		case ',':
			for i+1 < len(s) && s[i+1] == ' ' {
				i++
			}
		}
	}
	return string(b)
}

// normalizeSerial writes a configured serial number as Otoroshi compares it.
func normalizeSerial(s string) string {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(strings.TrimPrefix(s, "-"), "0")
	if s == "" {
		return "0"
	}
	if neg {
		return "-" + s
	}
	return s
}

// matches reports whether the certificate matches one entry of the lists.
func (cc *clientCertCheck) matches(c *ClientCert) bool {
	for _, s := range cc.serials {
		if s == c.Serial {
			return true
		}
	}
	for i := range cc.subjects {
		if cc.subjects[i].match(c.Subject) {
			return true
		}
	}
	for i := range cc.issuers {
		if cc.issuers[i].match(c.Issuer) {
			return true
		}
	}
	for _, re := range cc.subjectRegexp {
		if re.MatchString(c.Subject) {
			return true
		}
	}
	for _, re := range cc.issuerRegexp {
		if re.MatchString(c.Issuer) {
			return true
		}
	}
	return false
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
	if cc.matching && !cc.matches(&x.Cert) {
		return Verdict{Refuse: RefusalClientCert}
	}
	return Verdict{}
}

// addClientCert compiles NgHasClientCertValidator or NgHasClientCertMatchingValidator.
func (c *Chain) addClientCert(f *fields) {
	cc := &clientCertCheck{}
	if f.name == "NgHasClientCertMatchingValidator" {
		cc.matching = true
		for _, s := range f.strs("serial_numbers") {
			cc.serials = append(cc.serials, normalizeSerial(s))
		}
		for _, s := range f.strs("subject_dns") {
			cc.subjects = append(cc.subjects, compileDN(s))
		}
		for _, s := range f.strs("issuer_dns") {
			cc.issuers = append(cc.issuers, compileDN(s))
		}
		compile := func(field string) []*regexp.Regexp {
			var out []*regexp.Regexp
			for i, r := range f.strs(field) {
				re, err := regexp.Compile("^(?:" + r + ")$")
				if err != nil {
					f.fail(field+"["+strconv.Itoa(i)+"]", "bad regular expression %q: %v", r, err)
					continue
				}
				out = append(out, re)
			}
			return out
		}
		cc.subjectRegexp = compile("regex_subject_dns")
		cc.issuerRegexp = compile("regex_issuer_dns")
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
