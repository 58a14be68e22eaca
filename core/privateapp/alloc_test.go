//go:build !race

package privateapp_test

import (
	"testing"
	"time"

	"github.com/torii-gateway/torii/core/privateapp"
)

func TestCheckAllocatesNothing(t *testing.T) {
	s := privateapp.New(nil)
	v, err := s.Create(&privateapp.User{Module: "m", Email: "a@b"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, buf := parse(t, "GET / HTTP/1.1\r\nHost: a\r\nCookie: other=1; oto-papps-basic-auth-m="+v+"\r\n\r\n")
	now := time.Now().UnixNano()
	if s.Check("m", "oto-papps-basic-auth-m", req, buf, now) == nil {
		t.Fatal("valid session refused")
	}
	if n := testing.AllocsPerRun(1000, func() {
		s.Check("m", "oto-papps-basic-auth-m", req, buf, now)
	}); n != 0 {
		t.Fatalf("Check allocates %v times", n)
	}
}

func BenchmarkCheck(b *testing.B) {
	s := privateapp.New(nil)
	v, _ := s.Create(&privateapp.User{Module: "m", Email: "a@b"}, time.Hour)
	req, buf := parse(b, "GET / HTTP/1.1\r\nHost: a\r\nCookie: other=1; oto-papps-basic-auth-m="+v+"\r\n\r\n")
	now := time.Now().UnixNano()
	b.ReportAllocs()
	for b.Loop() {
		if s.Check("m", "oto-papps-basic-auth-m", req, buf, now) == nil {
			b.Fatal("refused")
		}
	}
}
