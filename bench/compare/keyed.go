package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The API-key scenario runs a second Torii, `torii serve` with its admin API
// and a routes file whose only route requires an API key, and checks every
// proxy's key port refuses a call without the key and serves one with it.

var adminKeyRe = regexp.MustCompile(`clientId:\s+(\S+)\s+clientSecret:\s+(\S+)`)

// startKeyedTorii starts `torii serve` on the Torii key port, pinned like the
// other proxies, and creates the bench key with the admin key it prints once.
func (e *env) startKeyedTorii(ctx context.Context, nofile, upstream int) error {
	aport, err := freePort()
	if err != nil {
		return err
	}
	dataDir := filepath.Join(e.dir, "torii-data")
	routes := filepath.Join(e.dir, "torii-routes.json")
	if err := os.WriteFile(routes, []byte(toriiKeyRoutes(upstream)), 0o644); err != nil {
		return fmt.Errorf("cannot write Torii routes: %w", err)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", aport)
	p, err := startProc(e.dir, "torii-apikey", e.o.proxyCPU, nofile, e.toriiCommand("serve",
		"--listen", fmt.Sprintf("127.0.0.1:%d", e.keyPorts[torii]), "--admin", admin, "--data-dir", dataDir,
		"--echo", "off", "--loops", "1", "--log-level", "error", "--config", routes)...)
	if err != nil {
		return err
	}
	e.procs = append(e.procs, p)
	if err := waitPort(ctx, p, admin); err != nil {
		return err
	}
	if err := waitPort(ctx, p, fmt.Sprintf("127.0.0.1:%d", e.keyPorts[torii])); err != nil {
		return err
	}
	var id, secret string
	for deadline := time.Now().Add(5 * time.Second); id == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(p.log)
		if m := adminKeyRe.FindSubmatch(b); m != nil {
			id, secret = string(m[1]), string(m[2])
		}
	}
	if id == "" {
		return fmt.Errorf("torii serve printed no admin key (clientId:/clientSecret:): %s", p.logTail())
	}
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+admin+"/api/apikeys", strings.NewReader(benchKeyJSON()))
	if err != nil {
		return fmt.Errorf("cannot build the key request: %w", err)
	}
	req.SetBasicAuth(id, secret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("cannot create the bench API key: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("cannot create the bench API key: POST /api/apikeys answered %d: %s", resp.StatusCode, body)
	}
	e.keyProxies[torii] = p
	logf("started Torii serve (PID %d) for the API-key scenario on 127.0.0.1:%d, admin %s, CPU %d",
		p.pid(), e.keyPorts[torii], admin, e.o.proxyCPU)
	return nil
}

// checkKeyed checks target's key port: a call without the key must be
// refused (Torii answers 400, nginx and HAProxy 401) and one with it served;
// on Torii a call for plainHost must be served without the key.
func (e *env) checkKeyed(ctx context.Context, target string) error {
	url := "http://127.0.0.1:" + strconv.Itoa(e.keyPorts[target]) + "/"
	client := &http.Client{Timeout: 5 * time.Second}
	call := func(withKey bool, host string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return 0, err
		}
		if host != "" {
			req.Host = host
		}
		req.Header.Set("X-Bench", "1")
		if withKey {
			req.Header.Set("Otoroshi-Client-Id", benchClientID)
			req.Header.Set("Otoroshi-Client-Secret", benchSecret)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) //nolint:errcheck // only the status matters
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	refused := http.StatusUnauthorized
	if target == torii {
		refused = http.StatusBadRequest
	}
	if code, err := call(false, ""); err != nil || code != refused {
		return fmt.Errorf("a call without the key on %s got %d (want %d): %v", url, code, refused, err)
	}
	if code, err := call(true, ""); err != nil || code != http.StatusOK {
		return fmt.Errorf("a call with the key on %s got %d (want 200): %v", url, code, err)
	}
	if target != torii {
		return nil
	}
	if code, err := call(false, plainHost); err != nil || code != http.StatusOK {
		return fmt.Errorf("a call without the key for the plain route (Host %s) on %s got %d (want 200): %v", plainHost, url, code, err)
	}
	if code, err := call(false, pluginsHost); err != nil || code != http.StatusOK {
		return fmt.Errorf("a call for the plugins route (Host %s) on %s got %d (want 200: no plugin may fire): %v", pluginsHost, url, code, err)
	}
	return nil
}
