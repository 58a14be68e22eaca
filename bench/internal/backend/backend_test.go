package backend

import (
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
)

func TestServe(t *testing.T) {
	srv, err := Start("127.0.0.1:0", Config{Size: 7, Sizes: map[string]int{"/16k": 16 << 10}, Status: 201, Delay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	f := func(path string, wantLen int) {
		t.Helper()
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 201 || len(body) != wantLen || body[len(body)-1] != '\n' {
			t.Fatalf("GET %s: status %d, %d bytes, err %v; want 201 with %d bytes", path, resp.StatusCode, len(body), err, wantLen)
		}
	}
	f("/", 7)
	f("/16k", 16<<10)
	f("/16k?x=1", 16<<10)
	if srv.Requests() != 3 {
		t.Fatalf("Requests = %d, want 3", srv.Requests())
	}
	var sum uint64
	for _, n := range srv.PerSecond() {
		sum += n
	}
	if sum != 3 {
		t.Fatalf("PerSecond sums to %d, want 3", sum)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{Size: -1}, {Status: 99}, {Status: 1000}, {Delay: -1}} {
		if _, err := Start("127.0.0.1:0", cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("Start(%+v): err = %v, want ErrConfig", cfg, err)
		}
	}
	m, err := ParseSizes("/a=1, /b=20")
	if err != nil || m["/a"] != 1 || m["/b"] != 20 || len(m) != 2 {
		t.Fatalf("ParseSizes = %v, %v", m, err)
	}
	for _, bad := range []string{"a=1", "/a", "/a=x", "/a=-1"} {
		if _, err := ParseSizes(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseSizes(%q): err = %v, want ErrConfig", bad, err)
		}
	}
}
