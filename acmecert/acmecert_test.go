package acmecert

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/pebbletest"
	"github.com/torii-gateway/torii/pki"
)

// TestPebble issues, renews and fails a challenge against a real Pebble on loopback.
func TestPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Pebble")
	}
	// The plaintext listener answering HTTP-01: only the challenge handler, as the gateway
	// mounts it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	chals := NewChallenges()
	mux := http.NewServeMux()
	mux.Handle(ChallengePrefix, chals)
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	ca := pebbletest.Start(t, ln.Addr().(*net.TCPAddr).Port, 90*24*time.Hour)

	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setNow := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	m, err := New(Config{DirectoryURL: ca.DirectoryURL, HTTPClient: ca.Client, Challenges: chals, Now: clock,
		Email: "ops@torii.test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	saved := map[string]string{}
	save := func(_ context.Context, id, chain, key string) error {
		if _, _, err := pki.Check(chain, key, clock(), false); err != nil {
			t.Errorf("saved certificate does not check: %v", err)
		}
		saved[id] = chain
		return nil
	}

	// Issuance: a new entity asking for a certificate.
	list := []Managed{{ID: "c1", Domains: []string{"acme.torii.test", "www.acme.torii.test"}, Missing: true}}
	if err := m.RenewDue(ctx, list, save); err != nil {
		t.Fatal(err)
	}
	chain, err := pki.ParseChain(saved["c1"])
	if err != nil {
		t.Fatal(err)
	}
	leaf := chain[0]
	if strings.Join(leaf.DNSNames, ",") != "acme.torii.test,www.acme.torii.test" || len(chain) < 2 {
		t.Fatalf("issued %v, chain of %d", leaf.DNSNames, len(chain))
	}
	if len(chals.m) != 0 {
		t.Fatal("challenge answers left behind")
	}

	// Renewal: nothing due before two thirds of the lifetime, renewed after.
	list = []Managed{{ID: "c1", Domains: leaf.DNSNames, From: leaf.NotBefore, To: leaf.NotAfter}}
	at := RenewAt(leaf.NotBefore, leaf.NotAfter)
	setNow(at.Add(-time.Minute))
	if d := m.Due(list); len(d) != 0 {
		t.Fatalf("due before 2/3: %v", d)
	}
	setNow(at.Add(time.Minute))
	if err := m.RenewDue(ctx, list, save); err != nil {
		t.Fatal(err)
	}
	renewed, _ := pki.ParseChain(saved["c1"])
	if renewed[0].SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Fatal("not renewed")
	}

	// A failed challenge: the listener does not answer it (another challenge set is mounted).
	mux2 := http.NewServeMux()
	mux2.Handle(ChallengePrefix, NewChallenges())
	srv.Handler = mux2
	bad := []Managed{{ID: "c2", Domains: []string{"fail.torii.test"}, Missing: true}}
	err = m.RenewDue(ctx, bad, save)
	if err == nil || !strings.Contains(err.Error(), "http-01 challenge for fail.torii.test failed") {
		t.Fatalf("failed challenge: %v", err)
	}
	if _, ok := saved["c2"]; ok {
		t.Fatal("saved after a failed challenge")
	}
	// Backoff: not retried for a minute, then retried, with a doubled wait after the next failure.
	next := m.NextTry("c2")
	if !next.Equal(clock().Add(time.Minute)) || len(m.Due(bad)) != 0 {
		t.Fatalf("backoff: next %v (now %v), due %v", next, clock(), m.Due(bad))
	}
	setNow(next)
	if len(m.Due(bad)) != 1 {
		t.Fatal("not retried after the backoff")
	}
}

func TestBackoffAndRenewAt(t *testing.T) {
	f := func(n int, want time.Duration) {
		t.Helper()
		if got := Backoff(n); got != want {
			t.Fatalf("Backoff(%d) = %v, want %v", n, got, want)
		}
	}
	f(1, time.Minute)
	f(2, 2*time.Minute)
	f(5, 16*time.Minute)
	f(30, 24*time.Hour)
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := RenewAt(from, from.Add(90*24*time.Hour)); !got.Equal(from.Add(60 * 24 * time.Hour)) {
		t.Fatal(got)
	}
}
