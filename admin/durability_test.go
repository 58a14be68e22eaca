package admin

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer collects a process's output for the test goroutine to read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// buildBinary builds ./cmd/torii, or admin/testdata/adminbin when cmd/torii does not accept the
// --admin and --data-dir flags yet. It returns the binary and the arguments before the flags.
func buildBinary(t *testing.T) (bin string, args []string) {
	t.Helper()
	dir := t.TempDir()
	bin = filepath.Join(dir, "torii")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/torii").CombinedOutput()
	if err == nil {
		help, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
		if bytes.Contains(help, []byte("-admin")) && bytes.Contains(help, []byte("-data-dir")) {
			return bin, []string{"serve", "--listen", freePort(t), "--echo", freePort(t)}
		}
		t.Logf("cmd/torii has no --admin/--data-dir yet; using admin/testdata/adminbin (same admin.Run)")
	} else {
		t.Logf("cmd/torii does not build (%v: %s); using admin/testdata/adminbin", err, out)
	}
	bin = filepath.Join(dir, "adminbin")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/adminbin").CombinedOutput(); err != nil {
		t.Fatalf("build adminbin: %v: %s", err, out)
	}
	return bin, nil
}

type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	addr string
}

func startProc(t *testing.T, bin string, args []string, addr, dataDir string) *proc {
	t.Helper()
	p := &proc{out: &syncBuffer{}, addr: addr}
	p.cmd = exec.Command(bin, append(append([]string{}, args...), "--admin", addr, "--data-dir", dataDir)...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get("http://" + addr + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the binary did not become healthy: %s", p.out.String())
	return nil
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

// TestKill9LosesNoAcknowledgedWrite runs the real binary, kills it with SIGKILL in the middle of a
// stream of concurrent writes, restarts it on the same data directory and checks that every write
// that got a 2xx is there, twice over.
func TestKill9LosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, args := buildBinary(t)
	dataDir := t.TempDir()
	addr := freePort(t)
	p := startProc(t, bin, args, addr, dataDir)
	m := regexp.MustCompile(`clientId:\s+(\S+)\s+clientSecret:\s+(\S+)`).FindStringSubmatch(p.out.String())
	if m == nil {
		t.Fatalf("no admin key printed at first start: %s", p.out.String())
	}
	id, secret := m[1], m[2]
	client := &http.Client{Timeout: 5 * time.Second}
	post := func(ctx context.Context, name string) bool {
		body := fmt.Sprintf(`{"id":%q,"name":%q,"metadata":{"n":%q}}`, name, name, name)
		r, _ := http.NewRequestWithContext(ctx, "POST", "http://"+p.addr+"/api/groups", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.SetBasicAuth(id, secret)
		res, err := client.Do(r)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusCreated
	}

	var acked []string
	for round := 0; round < 2; round++ {
		var mu sync.Mutex
		var wg sync.WaitGroup
		ctx, cancel := context.WithCancel(context.Background())
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 2000 && ctx.Err() == nil; i++ {
					name := fmt.Sprintf("g-%d-%d-%d", round, w, i)
					if post(ctx, name) {
						mu.Lock()
						acked = append(acked, name)
						mu.Unlock()
					}
				}
			}()
		}
		// Kill once a good number of writes were acknowledged, while the writers keep going.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= 60*(round+1) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		p.kill()
		cancel()
		wg.Wait()

		p = startProc(t, bin, args, addr, dataDir)
		if strings.Contains(p.out.String(), "clientSecret:") {
			t.Fatalf("restart generated a new admin key")
		}
		r, _ := http.NewRequest("GET", "http://"+p.addr+"/api/groups", nil)
		r.SetBasicAuth(id, secret)
		res, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(res.Body)
		res.Body.Close()
		list, err := decodeStrict(body.Bytes())
		if err != nil {
			t.Fatalf("list after restart: %v: %s", err, body.String())
		}
		stored := map[string]bool{}
		for _, g := range list.([]any) {
			gm := g.(map[string]any)
			if gm["name"] != gm["id"] || gm["metadata"].(map[string]any)["n"] != gm["id"] {
				t.Fatalf("corrupt entity after kill -9: %v", gm)
			}
			stored[gm["id"].(string)] = true
		}
		for _, name := range acked {
			if !stored[name] {
				t.Fatalf("round %d: acknowledged write %s lost after kill -9 (%d acknowledged, %d stored)", round, name, len(acked), len(stored))
			}
		}
		t.Logf("round %d: %d acknowledged writes, %d stored after kill -9", round, len(acked), len(stored))
	}
	if _, err := os.Stat(filepath.Join(dataDir, DefaultDBName)); err != nil {
		t.Fatalf("database not in the data dir: %v", err)
	}
}
