package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/torii-gateway/torii/bench/internal/wire"
)

// measureMemory records each proxy's RSS at idle and while holding
// idleConns idle keep-alive connections (each has served one request), and
// that of the `torii serve` process of the API-key scenario (events,
// metrics, admin API) on its route without a key.
func (e *env) measureMemory(ctx context.Context) {
	raiseNofile(e.o.idleConns + 2048)
	for _, t := range e.available(scenarios[0]) {
		e.measureProcMemory(ctx, t, e.proxies[t], e.addr(t), e.addr(t))
	}
	if p := e.keyProxies[torii]; p != nil {
		e.measureProcMemory(ctx, toriiServe, p, fmt.Sprintf("127.0.0.1:%d", e.keyPorts[torii]), plainHost)
	}
}

// toriiServe names the memory row of the `torii serve` process.
const toriiServe = "Torii serve"

// measureProcMemory records p's RSS idle and with idle connections to addr
// whose one request carried Host host, as row name.
func (e *env) measureProcMemory(ctx context.Context, name string, p *proc, addr, host string) {
	if p == nil || ctx.Err() != nil {
		return
	}
	time.Sleep(300 * time.Millisecond)
	idle, err := treeStat(p.pid())
	if err != nil {
		logf("memory of %s: %v", name, err)
		return
	}
	conns, err := openIdle(ctx, addr, host, e.o.idleConns)
	if err != nil {
		logf("memory of %s: %v", name, err)
	}
	time.Sleep(500 * time.Millisecond)
	busy, err2 := treeStat(p.pid())
	for _, c := range conns {
		c.Close()
	}
	if err != nil || err2 != nil {
		return
	}
	m := memSample{IdleKiB: idle.rssKiB, ConnsKiB: busy.rssKiB, Conns: len(conns)}
	e.res.Mem[name] = m
	logf("memory  %-11s idle %d KiB, with %d idle connections %d KiB", name, m.IdleKiB, m.Conns, m.ConnsKiB)
	time.Sleep(time.Second) // let the proxy notice the closes
}

// nofileLimit returns n, or the hard open-file limit when that is lower.
func nofileLimit(n int) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && uint64(n) > lim.Max {
		return int(lim.Max)
	}
	return n
}

// raiseNofile lifts this process's open-file limit to at least n (root may
// also raise the hard limit).
func raiseNofile(n int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= uint64(n) {
		return
	}
	lim.Cur = uint64(n)
	lim.Max = max(lim.Max, uint64(n))
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logf("cannot raise the open-file limit to %d: %v", n, err)
	}
}

// openIdle opens n keep-alive connections to addr, sends one GET for host
// on each and reads the response, and returns them open and idle.
func openIdle(ctx context.Context, addr, host string, n int) ([]net.Conn, error) {
	req := []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: torii-bench-compare\r\n\r\n")
	conns := make([]net.Conn, n)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	const workers = 32
	for w := range workers {
		wg.Go(func() {
			rd := wire.NewReader(nil, wire.MinBufferSize)
			var resp wire.Response
			for i := w; i < n && ctx.Err() == nil; i += workers {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err == nil {
					c.SetDeadline(time.Now().Add(10 * time.Second))
					if _, err = c.Write(req); err == nil {
						rd.Reset(c)
						err = rd.Next(&resp, false)
					}
					c.SetDeadline(time.Time{})
					if err != nil {
						c.Close()
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("cannot open idle connection %d to %s: %w", i, addr, err)
					}
					mu.Unlock()
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	var out []net.Conn
	for _, c := range conns {
		if c != nil {
			out = append(out, c)
		}
	}
	return out, firstErr
}
