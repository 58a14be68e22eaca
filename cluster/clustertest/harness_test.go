package clustertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torii-gateway/torii/cluster"
	"github.com/torii-gateway/torii/internal/testkit"
)

var toriiBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "torii-clustertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	toriiBin, err = testkit.BuildTorii(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// long skips t unless TORII_CLUSTER_LONG is set (make test-cluster).
func long(t *testing.T) {
	t.Helper()
	if os.Getenv("TORII_CLUSTER_LONG") == "" {
		t.Skip("long cluster test: run with TORII_CLUSTER_LONG=1 (make test-cluster)")
	}
}

// leader is a torii serve --cluster-leader process and what a test needs to drive it.
type leader struct {
	*testkit.Torii
	dir      string
	keyFile  string // the cluster key file (in dir)
	adminKey cluster.Key
}

// startLeader starts a leader over dir; adminAddr "" picks a free port (later starts of the
// same leader pass the first one's address).
func startLeader(t *testing.T, dir, adminAddr string) *leader {
	t.Helper()
	if adminAddr == "" {
		adminAddr = "127.0.0.1:0"
	}
	adminKeyFile := filepath.Join(dir, "admin-key")
	p := testkit.StartTorii(t, toriiBin, "serve", "--listen", "127.0.0.1:0", "--admin", adminAddr, "--echo", "off",
		"--data-dir", dir, "--cluster-leader", "--admin-key-file", adminKeyFile, "--log-level", "warn")
	l := &leader{Torii: p, dir: dir, keyFile: filepath.Join(dir, "cluster-key")}
	k, err := cluster.ReadKeyFile(adminKeyFile)
	if err != nil {
		t.Fatalf("admin key: %v", err)
	}
	l.adminKey = k
	return l
}

// api calls the leader's admin API and returns the status and body.
func (l *leader) api(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.(string)
		if !ok {
			raw, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			b = string(raw)
		}
		rd = strings.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+l.Admin+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(l.adminKey.ClientID, l.adminKey.Secret)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (l *leader) mustAPI(t *testing.T, want int, method, path string, body any) []byte {
	t.Helper()
	code, out := l.api(t, method, path, body)
	if code != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, code, want, out)
	}
	return out
}

// startWorker starts a worker of l (leaderAddr: its admin address) over dir, with Redis at
// redis ("": none) and extra flags.
func startWorker(t *testing.T, leaderAddr, keyFile, dir, name, redis string, extra ...string) *testkit.Torii {
	t.Helper()
	args := []string{"worker", "--listen", "127.0.0.1:0", "--leader", "http://" + leaderAddr, "--cluster-key-file", keyFile,
		"--data-dir", dir, "--name", name, "--status", "127.0.0.1:0", "--log-level", "warn"}
	if redis != "" {
		args = append(args, "--redis", redis)
	}
	return testkit.StartTorii(t, toriiBin, append(args, extra...)...)
}

// keyedRoute creates a key clientID with the given quotas, then route id on backend be for
// Host host, requiring an API key and authorizing clientID: once a worker routes host, it
// knows the key too (states are applied in order).
func keyedRoute(t *testing.T, l *leader, id, host, be, clientID string, quotas map[string]int64) {
	t.Helper()
	key := map[string]any{"clientId": clientID, "clientSecret": "secret-" + clientID + "-0123456789", "clientName": clientID,
		"authorizedEntities": []string{"route_" + id}}
	for k, v := range quotas {
		key[k] = v
	}
	l.mustAPI(t, http.StatusCreated, "POST", "/api/apikeys", key)
	bh, bp, _ := net.SplitHostPort(be)
	l.mustAPI(t, http.StatusCreated, "POST", "/api/routes", fmt.Sprintf(`{"id":%q,"name":%q,
		"frontend":{"domains":[%q]},"backend":{"targets":[{"hostname":%q,"port":%s}]},
		"plugins":[{"enabled":true,"plugin":"cp:otoroshi.next.plugins.ApikeyCalls","config":{}}]}`, id, id, host, bh, bp))
}

// client is a keep-alive HTTP client for the workers.
var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// get sends GET / with Host host to proxy, with clientID's credentials unless empty, and
// returns the status (0 when the request failed).
func get(proxy, host, clientID string) int {
	req, _ := http.NewRequest("GET", "http://"+proxy+"/", nil)
	req.Host = host
	if clientID != "" {
		req.Header.Set("Otoroshi-Client-Id", clientID)
		req.Header.Set("Otoroshi-Client-Secret", "secret-"+clientID+"-0123456789")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// tally counts answers by status.
type tally struct {
	mu sync.Mutex
	m  map[int]int
}

func (t *tally) add(code int) {
	t.mu.Lock()
	if t.m == nil {
		t.m = map[int]int{}
	}
	t.m[code]++
	t.mu.Unlock()
}

func (t *tally) get(code int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[code]
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return fmt.Sprint(t.m)
}

// hammer sends total requests (bounded) through proxies, perProxy goroutines each, round robin,
// and tallies the statuses.
func hammer(proxies []string, host, clientID string, total, perProxy int) *tally {
	var tl tally
	var made atomic.Int64
	var wg sync.WaitGroup
	for _, p := range proxies {
		for range perProxy {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for made.Add(1) <= int64(total) {
					tl.add(get(p, host, clientID))
				}
			}()
		}
	}
	wg.Wait()
	return &tl
}

// settle sends requests one at a time, round robin over proxies, until every proxy answered
// 429 ten times in a row (at most 2000 requests per proxy): the calls leased but not spent when
// a burst ended are spent, as continued traffic spends them.
func settle(proxies []string, host, clientID string) *tally {
	var tl tally
	refused := make([]int, len(proxies))
	for range 2000 {
		done := true
		for i, p := range proxies {
			if refused[i] >= 10 {
				continue
			}
			done = false
			code := get(p, host, clientID)
			tl.add(code)
			if code == http.StatusTooManyRequests {
				refused[i]++
			} else {
				refused[i] = 0
			}
		}
		if done {
			break
		}
	}
	return &tl
}

// health reads a worker's /health.
func health(t *testing.T, w *testkit.Torii) map[string]any {
	t.Helper()
	resp, err := client.Get("http://" + w.Status + "/health")
	if err != nil {
		t.Fatalf("worker /health: %v", err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// waitServing waits until every proxy answers want for host.
func waitServing(t *testing.T, proxies []string, host, clientID string, want int) {
	t.Helper()
	testkit.Eventually(t, "every worker serving "+host, func() error {
		for _, p := range proxies {
			if code := get(p, host, clientID); code != want {
				return fmt.Errorf("worker %s answered %d for %s, want %d", p, code, host, want)
			}
		}
		return nil
	})
}

func contains(out fmt.Stringer, s string) bool {
	return bytes.Contains([]byte(out.String()), []byte(s))
}
