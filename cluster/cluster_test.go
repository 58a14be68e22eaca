package cluster

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// memSource is a state source of fixed entries, changed by tests.
type memSource struct {
	mu      sync.Mutex
	entries []Entry
	admin   Key
}

func (m *memSource) ClusterEntries(fn func(key string, raw []byte)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.entries {
		fn(e.Key, e.Raw)
	}
}

func (m *memSource) VerifyAdminKey(id, secret string) bool {
	return id == m.admin.ClientID && secret == m.admin.Secret
}

func (m *memSource) AdminSession(r *http.Request) bool {
	c, err := r.Cookie("session")
	return err == nil && c.Value == "valid"
}

func (m *memSource) ClusterAuth(*http.Request, bool) (bool, time.Duration) { return false, 0 }

func (m *memSource) set(entries ...Entry) {
	m.mu.Lock()
	m.entries = entries
	m.mu.Unlock()
}

func TestStateRoundTrip(t *testing.T) {
	entries := []Entry{
		{Key: "otoroshi:routes:r1", Raw: []byte(`{"id":"r1","name":"a \"quoted\" name\nwith a newline"}`)},
		{Key: "otoroshi:config:global", Raw: []byte(`{"maintenanceMode":false}`)},
	}
	st, err := EncodeState(entries)
	if err != nil {
		t.Fatal(err)
	}
	if st.Count != 2 || bytes.Count(st.Body, []byte("\n")) != 2 {
		t.Fatalf("count %d, body %q", st.Count, st.Body)
	}
	got, err := DecodeState(bytes.NewReader(st.Body), st.Count, st.Digest)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if string(got[e.Key]) != string(e.Raw) {
			t.Fatalf("%s: got %q, want %q", e.Key, got[e.Key], e.Raw)
		}
	}
	f := func(body []byte, count int, digest, want string) {
		t.Helper()
		_, err := DecodeState(bytes.NewReader(body), count, digest)
		if !errors.Is(err, ErrBadState) || !strings.Contains(err.Error(), want) {
			t.Fatalf("DecodeState: %v, want ErrBadState mentioning %q", err, want)
		}
	}
	f(st.Body, 3, st.Digest, "X-Data-Count says 3")
	f(st.Body, 2, strings.Repeat("0", 64), "X-Data-Digest")
	f(append(bytes.Clone(st.Body), "not json\n"...), -1, "", "line 3")
	f([]byte(`{"v":"x","w":"string"}`+"\n"), -1, "", "no key")
}

func newTestLeader(t *testing.T) (*Leader, *memSource, *httptest.Server, Key) {
	t.Helper()
	src := &memSource{admin: Key{ClientID: "admin", Secret: "admin-secret"}}
	src.set(Entry{Key: "otoroshi:routes:r1", Raw: []byte(`{"id":"r1"}`)})
	key := Key{ClientID: "cluster_1", Secret: "s3cret"}
	l := NewLeader(LeaderOptions{Source: src, Key: key, Name: "leader-1", Version: "test"})
	if err := l.Refresh(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l)
	t.Cleanup(srv.Close)
	return l, src, srv, key
}

func TestLeaderRefusesWithoutClusterKey(t *testing.T) {
	_, _, srv, key := newTestLeader(t)
	f := func(id, secret string, want int) {
		t.Helper()
		for _, path := range []string{"/api/cluster/state", "/api/cluster/members"} {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			if id != "" {
				req.SetBasicAuth(id, secret)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Fatalf("%s with %q: HTTP %d, want %d", path, id, resp.StatusCode, want)
			}
			if want == http.StatusUnauthorized && (strings.Contains(body.String(), "r1") || !strings.Contains(body.String(), `"error"`)) {
				t.Fatalf("401 body %q: want an Otoroshi error and no state", body.String())
			}
		}
	}
	f("", "", http.StatusUnauthorized)
	f(key.ClientID, "wrong", http.StatusUnauthorized)
	f("admin", "s3cret", http.StatusUnauthorized)
	f(key.ClientID, key.Secret, http.StatusOK)
	f("admin", "admin-secret", http.StatusOK)
	// The UI's session reads the members, never the state.
	for path, want := range map[string]int{"/api/cluster/members": http.StatusOK, "/api/cluster/state": http.StatusUnauthorized} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: "session", Value: "valid"})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s with the UI session: HTTP %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestWorkerLongPollAppliesChangesAndRefusesBadStates(t *testing.T) {
	l, src, srv, key := newTestLeader(t)
	dir := t.TempDir()
	got0 := make(chan map[string][]byte, 10)
	w, err := NewWorker(WorkerOptions{Leader: srv.URL, Key: key, Name: "w1", DataDir: dir, Wait: 5 * time.Second,
		Apply: func(e map[string][]byte) error { got0 <- e; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.FetchOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-got0
	// The next call long-polls: a change answers it at once.
	done := make(chan error, 1)
	go func() { done <- w.FetchOnce(context.Background()) }()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	src.set(Entry{Key: "otoroshi:routes:r2", Raw: []byte(`{"id":"r2"}`)})
	if err := l.Refresh(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := <-got0
	if _, ok := got["otoroshi:routes:r2"]; !ok || time.Since(start) > 2*time.Second {
		t.Fatalf("long poll: got %v after %s", got, time.Since(start))
	}
	// Kept on disk, owner-only; a new worker serves it without the leader.
	fi, err := os.Stat(filepath.Join(dir, StateFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved state: %v, mode %v", err, fi.Mode())
	}
	w2, _ := NewWorker(WorkerOptions{Leader: "http://127.0.0.1:1", Key: key, DataDir: dir,
		Apply: func(e map[string][]byte) error { got0 <- e; return nil }})
	if ok, err := w2.LoadSaved(); !ok || err != nil {
		t.Fatalf("LoadSaved: %v %v", ok, err)
	}
	if got := <-got0; got["otoroshi:routes:r2"] == nil {
		t.Fatalf("saved state %v", got)
	}
	// Stale or older states are refused.
	h := http.Header{}
	h.Set(HeaderDataCount, "1")
	h.Set(HeaderDataFrom, "1000")
	if _, err := w.check(h, applied{}); !errors.Is(err, ErrStaleState) {
		t.Fatalf("X-Data-From in 1970: %v, want ErrStaleState", err)
	}
	h.Set(HeaderDataFrom, strconv.FormatInt(time.Now().UnixMilli(), 10))
	h.Set(HeaderEpoch, "e")
	h.Set(HeaderStateSeq, "3")
	if _, err := w.check(h, applied{Epoch: "e", Seq: 4}); !errors.Is(err, ErrStaleState) {
		t.Fatalf("older sequence: %v, want ErrStaleState", err)
	}
	// A saved state whose digest does not match is not served.
	b, _ := os.ReadFile(filepath.Join(dir, StateFile))
	_ = os.WriteFile(filepath.Join(dir, StateFile), bytes.Replace(b, []byte("r2"), []byte("r3"), 1), 0o600)
	if _, err := w2.LoadSaved(); !errors.Is(err, ErrBadState) {
		t.Fatalf("damaged saved state: %v, want ErrBadState", err)
	}
}
