package admin

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/pki"
	"github.com/torii-gateway/torii/tlsedge"
)

// bucketCerts holds Otoroshi's certificate entities (/api/certificates), private keys included:
// like API key secrets, they are in the store and the export, never in logs, audit events or
// metrics (redact hides "privateKey").
const bucketCerts = "certificates"

// TLSPublisher receives the SNI table compiled with each snapshot; *tlsedge.Server satisfies it.
type TLSPublisher interface {
	SetTable(*tlsedge.Table)
}

func genCertID(doc map[string]any) {
	if s, _ := doc["id"].(string); s == "" {
		doc["id"] = "cert_" + newUUID()
	}
}

// certDefaults are Otoroshi's defaults of a certificate entity; the derived fields (subject, from,
// to, sans, ca, selfSigned, valid) are recomputed from the chain on every API write.
const certDefaults = `{"_loc":` + locDefault + `,"name":"","description":"","chain":"","privateKey":"","caRef":null,
	"domain":"","selfSigned":false,"ca":false,"valid":false,"exposed":false,"revoked":false,"autoRenew":false,
	"letsEncrypt":false,"client":false,"keypair":false,"subject":"","from":0,"to":0,"sans":[],
	"certType":"certificate","password":null,"tags":[],"metadata":{}}`

// certTemplate is a fresh self-signed certificate for new-cert.oto.tools, ready to post.
func certTemplate() map[string]any {
	d := mustObject(certDefaults)
	d["name"] = "New certificate"
	d["description"] = "A new certificate"
	if m, err := pki.Mint(pki.MintOptions{CommonName: "new-cert.oto.tools", Hosts: []string{"new-cert.oto.tools"}}); err == nil {
		d["chain"] = m.ChainPEM
		d["privateKey"] = m.KeyPEM
		deriveCert(d, []*x509.Certificate{m.Cert}, time.Now())
	}
	genCertID(d)
	return d
}

// checkCert checks a certificate entity as stored or imported: its chain parses and its private
// key (when there is one) belongs to the chain's first certificate. Validity dates are checked on
// API writes only (enrichCert): an export keeps its expired certificates.
func checkCert(c *checker, doc map[string]any) {
	checkID(c, doc, "id")
	c.str(doc, "name", "", false)
	c.str(doc, "description", "", false)
	c.str(doc, "domain", "", false)
	for _, f := range []string{"selfSigned", "ca", "valid", "exposed", "revoked", "autoRenew", "letsEncrypt", "client", "keypair"} {
		c.boolean(doc, f, "")
	}
	c.common(doc)
	chain := c.str(doc, "chain", "", false)
	key := ""
	if v, ok := doc["privateKey"]; ok && v != nil {
		key = c.str(doc, "privateKey", "", false)
	}
	if strings.TrimSpace(chain) == "" {
		return // kept from an import, never served; an API write needs one (enrichCert)
	}
	if _, _, err := pki.Check(chain, key, time.Time{}, false); err != nil {
		addPKIError(c, err)
	}
}

// addPKIError adds a pki.FieldError under its field; the message never quotes key material.
func addPKIError(c *checker, err error) {
	if fe, ok := err.(*pki.FieldError); ok {
		c.add(fe.Field, "%s", fe.Err.Error())
		return
	}
	c.add("chain", "%s", err.Error())
}

// enrichCert runs on API writes: an expired (or not yet valid) chain is refused, and the fields
// Otoroshi derives from the chain are set from it.
func enrichCert(c *checker, doc map[string]any, now time.Time) {
	chainPEM, _ := doc["chain"].(string)
	if strings.TrimSpace(chainPEM) == "" {
		if le, _ := doc["letsEncrypt"].(bool); !le {
			c.add("chain", "is required (a PEM certificate chain), unless letsEncrypt asks for one")
		}
		return
	}
	chain, err := pki.ParseChain(chainPEM)
	if err != nil {
		return // checkCert names it
	}
	if _, _, err := pki.Check(chainPEM, "", now, true); err != nil {
		addPKIError(c, err)
		return
	}
	deriveCert(doc, chain, now)
}

// deriveCert sets subject, from, to, sans, ca, selfSigned, valid (and domain when empty) from chain.
func deriveCert(doc map[string]any, chain []*x509.Certificate, now time.Time) {
	in := pki.Describe(chain)
	sans := make([]any, len(in.SANs))
	for i, s := range in.SANs {
		sans[i] = s
	}
	doc["subject"] = in.Subject
	doc["from"] = json.Number(itoa64(in.From.UnixMilli()))
	doc["to"] = json.Number(itoa64(in.To.UnixMilli()))
	doc["sans"] = sans
	doc["ca"] = in.CA
	doc["selfSigned"] = in.SelfSigned
	doc["valid"] = !now.Before(in.From) && !now.After(in.To)
	if d, _ := doc["domain"].(string); d == "" {
		if len(in.SANs) > 0 {
			doc["domain"] = in.SANs[0]
		} else {
			doc["domain"] = chain[0].Subject.CommonName
		}
	}
}

// certInfo is what the expiry metric and alerts need of a stored certificate (no key material).
type certInfo struct {
	ID, Name, Domain, Subject string
	NotAfter                  time.Time
	SANs                      []string
}

// compileTLS builds the SNI table of st: server certificates (with a key, not CA, client or
// keypair, not revoked) by their SANs and domain, CA certificates as the roots that verify client
// certificates, and the hosts of routes that ask for one. defaultDomain (global
// tlsSettings.defaultDomain) picks the default certificate; without it the first by id.
func compileTLS(st *state, routes *route.Table) (*tlsedge.Table, []certInfo) {
	defaultDomain := tlsDefaultDomain(st.globalDoc())
	var certs []tlsedge.Cert
	var cas []tlsedge.CA
	var infos []certInfo
	for _, e := range st.ents[kCerts].All() {
		doc := e.doc()
		chainPEM, _ := doc["chain"].(string)
		keyPEM, _ := doc["privateKey"].(string)
		chain, key, err := pki.Check(chainPEM, keyPEM, time.Time{}, false)
		if err != nil {
			continue // no chain yet (letsEncrypt, or kept from an import): nothing to serve
		}
		name, _ := doc["name"].(string)
		domain, _ := doc["domain"].(string)
		in := pki.Describe(chain)
		infos = append(infos, certInfo{ID: e.id, Name: name, Domain: domain, Subject: in.Subject, NotAfter: in.To, SANs: in.SANs})
		flag := func(f string) bool { b, _ := doc[f].(bool); return b }
		if flag("revoked") {
			continue
		}
		if chain[0].IsCA || flag("ca") {
			cas = append(cas, tlsedge.CA{ID: e.id, Cert: chain[0]})
			continue
		}
		if key == nil || flag("client") || flag("keypair") {
			continue
		}
		names := append([]string{}, in.SANs...)
		if isHostName(domain) {
			names = append(names, domain)
		}
		pair := pki.Pair(chain, key)
		certs = append(certs, tlsedge.Cert{ID: e.id, Names: names, Pair: &pair})
	}
	// The hosts of the routes that ask for a client certificate, from the compiled table (enabled
	// routes, already decoded): no pass decoding every stored route on each write.
	var authHosts []string
	if routes != nil {
		for _, c := range routes.Routes() {
			if !wantsClientCert(c.Route.Plugins) {
				continue
			}
			for _, d := range c.Route.Frontend.Domains {
				host, _, _ := strings.Cut(d, "/")
				authHosts = append(authHosts, host)
			}
		}
	}
	sort.Slice(certs, func(i, j int) bool { return certs[i].ID < certs[j].ID })
	opts := tlsedge.TableOptions{ClientCAs: cas, ClientAuthHosts: authHosts}
	opts.MinVersion, opts.MaxVersion = tlsVersions(st.globalDoc())
	if defaultDomain != "" {
		if c := tlsedge.NewTable(certs, tlsedge.TableOptions{}).Lookup(defaultDomain); c != nil {
			for i := range certs {
				certs[i].Default = certs[i].ID == c.ID
			}
		}
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].ID < infos[j].ID })
	return tlsedge.NewTable(certs, opts), infos
}

// ClientCertPlugins are the Otoroshi plugins that require a client certificate on a route: the
// TLS handshake asks for one on that route's domains.
var ClientCertPlugins = []string{"NgHasClientCertValidator", "NgHasClientCertMatchingValidator"}

func wantsClientCert(ps route.Plugins) bool {
	for _, p := range ps {
		if !p.Enabled {
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(p.Plugin, "cp:"), "otoroshi.next.plugins.")
		for _, n := range ClientCertPlugins {
			if name == n {
				return true
			}
		}
	}
	return false
}

// isHostName reports whether s can be a TLS server name (Otoroshi's CA and keypair entities
// carry a display name in domain).
func isHostName(s string) bool {
	return s != "" && !strings.ContainsAny(s, " /:") && strings.Contains(s, ".")
}

// tlsDefaultDomain reads tlsSettings.defaultDomain from the global config document.
func tlsDefaultDomain(global map[string]any) string {
	ts, _ := global["tlsSettings"].(map[string]any)
	d, _ := ts["defaultDomain"].(string)
	return d
}

// tlsVersionNames are the values of tlsSettings.minVersion and maxVersion (Torii's fields).
var tlsVersionNames = map[string]uint16{
	"1.2": tls.VersionTLS12, "TLSv1.2": tls.VersionTLS12,
	"1.3": tls.VersionTLS13, "TLSv1.3": tls.VersionTLS13,
}

// tlsVersions reads tlsSettings.minVersion and maxVersion (0 when unset: the --tls-min-version
// flag and TLS 1.3 apply). checkGlobal refused anything else before it was stored.
func tlsVersions(global map[string]any) (minV, maxV uint16) {
	ts, _ := global["tlsSettings"].(map[string]any)
	lo, _ := ts["minVersion"].(string)
	hi, _ := ts["maxVersion"].(string)
	return tlsVersionNames[lo], tlsVersionNames[hi]
}

// checkTLSSettings checks Torii's fields of tlsSettings: minVersion and maxVersion are "1.2" or
// "1.3" (or "TLSv1.2", "TLSv1.3"), the minimum not above the maximum.
func checkTLSSettings(c *checker, doc map[string]any) {
	ts := c.object(doc, "tlsSettings", "", false)
	if ts == nil {
		return
	}
	c.str(ts, "defaultDomain", "tlsSettings", false)
	var v [2]uint16
	for i, f := range []string{"minVersion", "maxVersion"} {
		s := c.str(ts, f, "tlsSettings", false)
		if s == "" {
			continue
		}
		if v[i] = tlsVersionNames[s]; v[i] == 0 {
			c.add("tlsSettings."+f, "must be \"1.2\" or \"1.3\", not %q", s)
		}
	}
	if v[0] != 0 && v[1] != 0 && v[0] > v[1] {
		c.add("tlsSettings.minVersion", "must not be above tlsSettings.maxVersion (%s > %s)", tls.VersionName(v[0]), tls.VersionName(v[1]))
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
