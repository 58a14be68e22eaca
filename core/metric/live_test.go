package metric

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestLiveStats(t *testing.T) {
	s := NewSet(2)
	a, b := s.Route("a"), s.Route("b")
	l := NewLive(s)
	t0 := time.Unix(1000, 0)
	a.Begin(0)
	a.Done(0, 200, 10, 100, time.Millisecond, 500*time.Microsecond, 500*time.Microsecond)
	l.sample(t0)
	for i := range 100 {
		a.Begin(i)
		a.Done(i, 200, 10, 100, time.Millisecond, 500*time.Microsecond, 500*time.Microsecond)
	}
	for i := range 4 {
		b.Begin(i)
		b.Done(i, 404, 5, 50, 10*time.Millisecond, 0, 10*time.Millisecond)
	}
	b.Begin(0) // in flight
	l.sample(t0.Add(500 * time.Millisecond))
	l.sample(t0.Add(time.Second))

	st, err := l.Stats("a")
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{
		Calls: 101, DataIn: 1010, DataOut: 10100, Rate: 100, Duration: 1, Overhead: 0.5,
		DataInRate: 1000, DataOutRate: 10000, P50: 1.6, P99: 1.6, Status: StatusMix{S2xx: 100}, WindowMs: 1000,
	}
	if st != want {
		t.Fatalf("route a:\n got %+v\nwant %+v", st, want)
	}
	g, err := l.Stats("global")
	if err != nil {
		t.Fatal(err)
	}
	if g.Calls != 105 || g.Rate != 104 || g.ConcurrentHandledRequests != 1 || g.Status.S4xx != 4 || g.Status.S2xx != 100 || g.P99 != 12.8 {
		t.Fatalf("global: %+v", g)
	}
	if g2, all := l.StatsAll(); g2 != g || all["a"] != st || all["b"].Calls != 4 || len(all) != 2 {
		t.Fatalf("StatsAll: %+v %+v", g2, all)
	}
	if _, err := l.Stats("nope"); !errors.Is(err, ErrUnknownRoute) {
		t.Fatalf("unknown route: err = %v", err)
	}
	// The window slides: samples older than a second drop out of the rate.
	l.sample(t0.Add(1500 * time.Millisecond))
	l.sample(t0.Add(2000 * time.Millisecond))
	if st, _ := l.Stats("a"); st.Rate != 0 || st.Calls != 101 || st.WindowMs != 1000 {
		t.Fatalf("idle window: %+v", st)
	}
}

func TestLiveStatsBeforeSampling(t *testing.T) {
	s := NewSet(1)
	m := s.Route("a")
	m.Begin(0)
	m.Done(0, 500, 1, 2, time.Millisecond, 0, time.Millisecond)
	st, err := NewLive(s).Stats("")
	if err != nil {
		t.Fatal(err)
	}
	if st.Calls != 1 || st.DataOut != 2 || st.Rate != 0 {
		t.Fatalf("stats before sampling: %+v", st)
	}
}

// TestServeLive reads the stream with a real HTTP client over loopback.
func TestServeLive(t *testing.T) {
	s := NewSet(2)
	m := s.Route("r1")
	l := NewLive(s)
	done := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := l.ServeLive(w, r, strings.TrimPrefix(r.URL.Path, "/api/live/"), 100*time.Millisecond)
		if errors.Is(err, ErrUnknownRoute) {
			http.Error(w, "unknown route", http.StatusNotFound)
			return
		}
		done <- err
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/live/unknown")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown route: status %d", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/live/r1", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // traffic while the client watches, bounded in time
		for i := 0; i < 500; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			m.Begin(i)
			m.Done(i, 201, 1, 2, time.Millisecond, 0, time.Millisecond)
		}
	}()
	sc := bufio.NewScanner(resp.Body)
	events, sawWindow := 0, false
	for events < 40 && !sawWindow && sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		doc, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("unexpected line %q", line)
		}
		var st Stats
		if err := json.Unmarshal([]byte(doc), &st); err != nil {
			t.Fatalf("event %q: %v", doc, err)
		}
		events++
		if events > 1 && st.Status.S2xx > 0 {
			if st.Rate <= 0 || st.WindowMs < 50 || st.P50 != 1.6 || st.Calls < st.Status.S2xx {
				t.Fatalf("windowed event: %+v", st)
			}
			sawWindow = true
		}
	}
	if !sawWindow {
		t.Fatalf("no event with traffic in %d events (scan err %v)", events, sc.Err())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeLive after disconnect: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("ServeLive did not return after the client left")
	}
}
