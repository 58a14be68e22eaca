package testkit

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Redis is a redis-server (Debian's, installed by tools/deps.sh) started by StartRedis on a
// loopback port that stays the same across Kill and Restart.
type Redis struct {
	Addr string
	t    testing.TB
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts redis-server on a free loopback port, without persistence, and stops it at
// cleanup. It skips the test when redis-server is not installed.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (tools/deps.sh installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot pick a port for redis-server: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := &Redis{Addr: addr, t: t, dir: t.TempDir()}
	r.start()
	t.Cleanup(r.Kill)
	return r
}

func (r *Redis) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.Addr)
	r.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--protected-mode", "no")
	out := &Buffer{}
	r.cmd.Stdout, r.cmd.Stderr = out, out
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("cannot start redis-server: %v", err)
	}
	r.done = make(chan struct{})
	done := r.done
	cmd := r.cmd
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.Addr, 100*time.Millisecond)
		if err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 16)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if string(buf[:n]) == "+PONG\r\n" {
				return
			}
		}
		select {
		case <-done:
			r.t.Fatalf("redis-server exited at start:\n%s", out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server not answering on %s within 10s:\n%s", r.Addr, out)
		}
	}
}

// Kill stops redis-server with SIGKILL (its data is lost: no persistence).
func (r *Redis) Kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// Restart starts redis-server again on the same port, empty.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Kill()
	r.start()
}

// Do sends one command (inline protocol, arguments without spaces) and returns the raw reply.
func (r *Redis) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	cmd := "*" + strconv.Itoa(len(args)) + "\r\n"
	for _, a := range args {
		cmd += "$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n"
	}
	if _, err := c.Write([]byte(cmd)); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return "", fmt.Errorf("no reply from redis: %w", err)
	}
	return string(buf[:n]), nil
}
