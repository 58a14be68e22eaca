package tlsedge

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/torii-gateway/torii/pki"
)

// TestOCSPStapling runs a real OCSP responder on loopback: the staple appears once fetched in
// the background, survives a table rebuild, and a handshake never waits for the responder.
func TestOCSPStapling(t *testing.T) {
	ca, err := pki.Mint(pki.MintOptions{CommonName: "ocsp CA", CA: true})
	if err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int64
	block := make(chan struct{})
	responder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		<-block
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		der, err := ocsp.CreateResponse(ca.Cert, ca.Cert, ocsp.Response{Status: ocsp.Good, SerialNumber: req.SerialNumber,
			ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}, ca.Signer())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		_, _ = w.Write(der)
	}))
	defer responder.Close()
	leaf, err := pki.Mint(pki.MintOptions{CommonName: "stapled", Hosts: []string{"s.test"}, Issuer: ca, OCSPServer: []string{responder.URL}})
	if err != nil {
		t.Fatal(err)
	}
	// The chain carries the issuer, which the OCSP request names.
	chain, key, err := pki.Check(leaf.ChainPEM+ca.ChainPEM, leaf.KeyPEM, time.Now(), true)
	if err != nil {
		t.Fatal(err)
	}
	pair := pki.Pair(chain, key)
	s, addr := startEdge(t, Config{}, NewTable([]Cert{{ID: "s", Names: []string{"s.test"}, Pair: &pair}}, TableOptions{}))
	cfg := &tls.Config{ServerName: "s.test", InsecureSkipVerify: true}
	// The responder hangs: handshakes go on without a staple.
	for asked.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if _, _, cs := get(t, addr, cfg); cs.OCSPResponse != nil {
		t.Fatal("staple before any response")
	}
	close(block)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, cs := get(t, addr, cfg)
		if cs.OCSPResponse != nil {
			r, err := ocsp.ParseResponse(cs.OCSPResponse, ca.Cert)
			if err != nil || r.Status != ocsp.Good || r.SerialNumber.Cmp(leaf.Cert.SerialNumber) != 0 {
				t.Fatalf("staple: %v %+v", err, r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no staple after 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A rebuilt table keeps the staple at once.
	pair2 := pki.Pair(chain, key)
	s.SetTable(NewTable([]Cert{{ID: "s", Names: []string{"s.test"}, Pair: &pair2}}, TableOptions{}))
	if _, _, cs := get(t, addr, cfg); cs.OCSPResponse == nil {
		t.Fatal("staple lost by a rebuild")
	}
}
