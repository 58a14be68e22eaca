package admin

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/internal/testkit"
)

// TestKill9LosesNoAcknowledgedWrite runs the real binary, kills it with SIGKILL in the middle of a
// stream of concurrent writes, restarts it on the same data directory and checks that every write
// that got a 2xx is there, twice over.
func TestKill9LosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := testkit.BuildTorii(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	start := func() *testkit.Torii {
		return testkit.StartTorii(t, bin, "serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--echo", "off",
			"--data-dir", dataDir)
	}
	p := start()
	m := regexp.MustCompile(`clientId:\s+(\S+)\s+clientSecret:\s+(\S+)`).FindStringSubmatch(p.Out.String())
	if m == nil {
		t.Fatalf("no admin key printed at first start: %s", p.Out.String())
	}
	id, secret := m[1], m[2]
	client := &http.Client{Timeout: 5 * time.Second}
	post := func(ctx context.Context, name string) bool {
		body := fmt.Sprintf(`{"id":%q,"name":%q,"metadata":{"n":%q}}`, name, name, name)
		r, _ := http.NewRequestWithContext(ctx, "POST", "http://"+p.Admin+"/api/groups", strings.NewReader(body))
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
		p.Kill()
		cancel()
		wg.Wait()

		p = start()
		if strings.Contains(p.Out.String(), "clientSecret:") {
			t.Fatalf("restart generated a new admin key")
		}
		r, _ := http.NewRequest("GET", "http://"+p.Admin+"/api/groups", nil)
		r.SetBasicAuth(id, secret)
		res, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(res.Body)
		res.Body.Close()
		list, err := jsonx.Decode(body.Bytes())
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
