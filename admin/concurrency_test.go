package admin

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// The global config's limitConcurrentRequests and maxConcurrentRequests reach
// the engine: with a limit of 1, a request arriving while another is held by
// the backend is answered 429 errors.cant.process.more.request; once the
// limit is lifted, it passes.
func TestConcurrentRequestsLimitPublished(t *testing.T) {
	engine := startEngine(t)
	hold := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	be := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-hold:
			case <-r.Context().Done():
			}
		}
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = be.Serve(ln) }()
	t.Cleanup(func() { _ = be.Close() })
	t.Cleanup(func() { close(hold) })

	e := newEnv(t, func(o *Options) { o.Publisher = engine })
	e.must(http.StatusCreated, req{method: "POST", path: "/api/routes", body: routeBody("route_load", "load.test", ln.Addr().(*net.TCPAddr).Port)})
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/globalconfig", body: `{"limitConcurrentRequests":true,"maxConcurrentRequests":1}`})

	proxy := engine.Addr().String()
	c := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (int, string, string) {
		r, _ := http.NewRequest("GET", "http://"+proxy+path, nil)
		r.Host = "load.test"
		res, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Otoroshi-Error-Cause"), string(b)
	}
	slow := make(chan int, 1)
	go func() {
		st, _, _ := get("/slow")
		slow <- st
	}()
	deadline := time.Now().Add(5 * time.Second)
	for engine.InFlight() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the slow request never reached the backend")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st, cause, body := get("/fast"); st != http.StatusTooManyRequests || cause != "errors.cant.process.more.request" {
		t.Fatalf("second request: %d %q %s", st, cause, body)
	}
	e.must(http.StatusOK, req{method: "PATCH", path: "/api/globalconfig", body: `{"limitConcurrentRequests":false}`})
	if st, _, body := get("/fast"); st != http.StatusOK {
		t.Fatalf("without the limit: %d %s", st, body)
	}
	hold <- struct{}{}
	if st := <-slow; st != http.StatusOK {
		t.Fatalf("slow request: status %d", st)
	}
}
