package route

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/torii-gateway/torii/core/upstls"
)

// HealthOptions tunes a HealthChecker.
type HealthOptions struct {
	// Interval between two rounds of checks; 0 means 10 s.
	Interval time.Duration
	// Concurrency bounds the checks in flight at once; 0 means 8.
	Concurrency int
}

// maxHealthTimeout caps `health_check.timeout`, so that one round always ends.
const maxHealthTimeout = 30 * time.Second

// maxHealthBody is how much of a health check response body is read (and discarded)
// before the connection is closed: a misbehaving target cannot stream into the checker.
const maxHealthBody = 64 << 10

// HealthChecker runs the active health checks of the routes of the current Table: an HTTP
// GET of `health_check.url` on every target of every route whose check is enabled, once
// per Interval, with net/http on its own goroutines (never on an event loop). Results go
// into the Registry, so that they survive reloads.
type HealthChecker struct {
	reg      *Registry
	interval time.Duration
	conc     int
	client   *http.Client
	h2client *http.Client // for HTTP/2 targets (Upstream.H2): h2c, or h2 with ALPN over TLS

	mu    sync.Mutex
	table *Table
}

// NewHealthChecker returns a checker writing into reg. Call Update with each new Table,
// and Run (or CheckNow) to check.
func NewHealthChecker(reg *Registry, opts HealthOptions) *HealthChecker {
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	return &HealthChecker{
		reg: reg, interval: opts.Interval, conc: opts.Concurrency,
		client: healthClient(false), h2client: healthClient(true),
	}
}

// healthClient is the checker's HTTP client: HTTP/1.1, or with h2 HTTP/2 only (h2c with prior
// knowledge in plaintext, ALPN h2 over TLS), as the engine speaks to the target.
func healthClient(h2 bool) *http.Client {
	var protos []string
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		// TLS targets are checked over TLS with their own profile (SNI, trust, client
		// certificate), carried by the request's context.
		DialTLSContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			p, _ := ctx.Value(tlsProfileKey{}).(*upstls.Profile)
			if p == nil {
				return nil, errors.New("route: TLS health check without a TLS profile")
			}
			return upstls.DialALPN(ctx, addr, p, protos)
		},
	}
	if h2 {
		protos = []string{"h2"}
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetHTTP2(true)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Update makes t the table whose targets are checked. Targets of routes without an enabled
// health check are marked healthy, so that a check removed by a reload does not leave a
// target ejected for ever. Safe from any goroutine.
func (h *HealthChecker) Update(t *Table) {
	h.mu.Lock()
	prev := h.table
	h.table = t
	h.mu.Unlock()
	if t == nil || prev == t { // the same table: an API key or global config change
		return
	}
	var routes []*Compiled
	if d := t.DeltaFrom(prev); d != nil {
		routes = d.Added // the other routes were set when their table was
	} else {
		routes = t.Routes()
	}
	for _, c := range routes {
		if c.pool.hc != nil {
			continue
		}
		for i := range c.pool.ups {
			c.pool.ups[i].state.setHealthy(true, "no health check")
		}
	}
}

// Run checks every Interval until ctx is done; it returns ctx.Err().
func (h *HealthChecker) Run(ctx context.Context) error {
	tick := time.NewTicker(h.interval)
	defer tick.Stop()
	for {
		h.CheckNow(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// CheckNow runs one round of checks over the current table and returns when it is over
// (each check is bounded by its route's timeout, at most 30 s).
func (h *HealthChecker) CheckNow(ctx context.Context) {
	h.mu.Lock()
	t := h.table
	h.mu.Unlock()
	if t == nil {
		return
	}
	sem := make(chan struct{}, h.conc)
	var wg sync.WaitGroup
	for _, c := range t.Routes() {
		hc := c.pool.hc
		if hc == nil {
			continue
		}
		for i := range c.pool.ups {
			u := &c.pool.ups[i]
			if u.Down != "" {
				continue // no address to check
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				wg.Wait()
				return
			}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				ok, detail := h.check(ctx, hc, u)
				if ctx.Err() == nil {
					u.state.setHealthy(ok, detail)
				}
			}()
		}
	}
	wg.Wait()
}

// check sends one health check to u and classifies the answer.
func (h *HealthChecker) check(ctx context.Context, hc *HealthCheck, u *Upstream) (bool, string) {
	timeout := time.Duration(hc.Timeout) * time.Millisecond
	if timeout <= 0 || timeout > maxHealthTimeout {
		timeout = maxHealthTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := hc.URL
	if pu, err := url.Parse(hc.URL); err == nil && pu.IsAbs() {
		target = pu.RequestURI() // an absolute URL keeps its path; the target is ours
	}
	scheme := "http://"
	if u.TLS != nil {
		scheme = "https://"
		ctx = context.WithValue(ctx, tlsProfileKey{}, u.TLS)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+u.Addr.String()+target, nil)
	if err != nil {
		return false, fmt.Sprintf("cannot build health check request: %s", err)
	}
	req.Host = u.HostPort
	req.Header.Set("User-Agent", "torii-health-check")
	client := h.client
	if u.H2 {
		client = h.h2client
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Sprintf("health check failed: %s", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxHealthBody))
	resp.Body.Close()
	ok := healthyStatus(hc, resp.StatusCode)
	return ok, fmt.Sprintf("health check status %d", resp.StatusCode)
}

// healthyStatus classifies a status: listed in unhealthyStatuses ⇒ unhealthy; otherwise,
// when healthyStatuses is set, healthy iff listed; otherwise healthy iff 2xx or 3xx.
func healthyStatus(hc *HealthCheck, status int) bool {
	if slices.Contains(hc.UnhealthyStatuses, status) {
		return false
	}
	if len(hc.HealthyStatuses) != 0 {
		return slices.Contains(hc.HealthyStatuses, status)
	}
	return status >= 200 && status < 400
}

// tlsProfileKey carries a TLS target's profile to the health checker's TLS dialer.
type tlsProfileKey struct{}
