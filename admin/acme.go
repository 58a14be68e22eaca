package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/torii-gateway/torii/acmecert"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/pki"
)

// ACME: certificates marked letsEncrypt are obtained and renewed by package acmecert. The
// HTTP-01 answers are served on the plaintext listener through one route per such certificate's
// domain, "<domain>/.well-known/acme-challenge", to the challenge server on loopback
// (Options.ACMEChallenges); the certificates obtained are stored here like any other, through
// the one write path, audited as "torii-acme".

// acmeRoutes returns the challenge routes of st's letsEncrypt certificates to addr.
func acmeRoutes(st *state, addr netip.AddrPort) []route.Route {
	var out []route.Route
	for _, m := range acmeManaged(st) {
		for _, d := range m.Domains {
			out = append(out, route.Route{
				ID: "torii-acme-" + m.ID + "-" + d, Name: "ACME HTTP-01 for " + d, Enabled: true,
				Frontend: route.Frontend{Domains: []string{d + strings.TrimSuffix(acmecert.ChallengePrefix, "/")}},
				Backend: route.Backend{Targets: []route.Target{{ID: "acme", Hostname: addr.Addr().String(), Port: int(addr.Port()),
					Weight: 1, Protocol: "HTTP/1.1"}}, Root: "/", LoadBalancing: route.LoadBalancing{Type: "RoundRobin"}},
			})
		}
	}
	return out
}

// acmeManaged lists st's certificates marked letsEncrypt: their domain and SANs, and the
// validity of the chain they hold (Missing when none yet).
func acmeManaged(st *state) []acmecert.Managed {
	var out []acmecert.Managed
	for _, e := range st.ents[kCerts].All() {
		doc := e.doc()
		if le, _ := doc["letsEncrypt"].(bool); !le {
			continue
		}
		domain, _ := doc["domain"].(string)
		m := acmecert.Managed{ID: e.id}
		if isHostName(domain) {
			m.Domains = append(m.Domains, domain)
		}
		chainPEM, _ := doc["chain"].(string)
		if chain, err := pki.ParseChain(chainPEM); err == nil {
			in := pki.Describe(chain)
			m.From, m.To = in.From, in.To
			for _, s := range in.SANs {
				if s != domain && isHostName(s) {
					m.Domains = append(m.Domains, s)
				}
			}
		} else {
			m.Missing = true
		}
		if len(m.Domains) > 0 {
			out = append(out, m)
		}
	}
	return out
}

// ACMECertificates lists the certificates to obtain or renew over ACME. Safe from any goroutine.
func (s *Server) ACMECertificates() []acmecert.Managed { return acmeManaged(s.cur.Load()) }

// StoreACMECertificate replaces the chain and key of certificate id with ones obtained over
// ACME, through the write path (checked, compiled, committed, published, audited).
func (s *Server) StoreACMECertificate(_ context.Context, id, chainPEM, keyPEM string) error {
	chain, _, err := pki.Check(chainPEM, keyPEM, time.Time{}, false)
	if err != nil {
		return fmt.Errorf("cannot store ACME certificate %s: %w", id, err)
	}
	k := kinds[kCerts]
	r := (&http.Request{Method: http.MethodPut, URL: &url.URL{Path: "/api/certificates/" + id},
		RemoteAddr: "127.0.0.1:0", Header: http.Header{"User-Agent": {"torii-acme"}}})
	r = withWho(r, "torii-acme")
	_, err = s.write(func(st *state, ws *writeSet) error {
		e, ok := st.ents[kCerts].Get(id)
		if !ok {
			return errNotFound("certificate " + id)
		}
		before := e.doc()
		doc := e.doc()
		doc["chain"], doc["privateKey"] = chainPEM, keyPEM
		deriveCert(doc, chain, s.now())
		ne, err := newEntity(id, doc)
		if err != nil {
			return err
		}
		ws.put(st, k, ne)
		s.audit(ws, r, "UPDATE_"+k.audit, id, before, doc, "certificate obtained over ACME")
		return nil
	})
	return err
}
