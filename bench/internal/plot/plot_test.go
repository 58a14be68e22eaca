package plot

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/bench/hdr"
)

func TestWriteSVG(t *testing.T) {
	h := hdr.NewDefault()
	for v := int64(1); v <= 100_000; v++ {
		h.Record(v * 100)
	}
	var b strings.Builder
	err := WriteSVG(&b, "small GET <open loop>", []Series{
		{Name: "torii & co", Points: h.Distribution(10)},
		{Name: "empty"},
	})
	if err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	// Well-formed XML, with the names escaped.
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := dec.Token(); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("invalid SVG: %v\n%s", err, svg)
		}
	}
	for _, want := range []string{"99.99%", "torii &amp; co", "&lt;open loop&gt;", "latency (ms)", "<polyline"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if got := strings.Count(svg, "<polyline"); got != 1 {
		t.Errorf("%d polylines, want 1 (the empty series has none)", got)
	}
}

func TestLabels(t *testing.T) {
	f := func(k float64, want string) {
		t.Helper()
		if got := ninesLabel(k); got != want {
			t.Errorf("ninesLabel(%v) = %q, want %q", k, got, want)
		}
	}
	f(0, "0%")
	f(1, "90%")
	f(2, "99%")
	f(3, "99.9%")
	f(5, "99.999%")
	g := func(v, want float64) {
		t.Helper()
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", v, got, want)
		}
	}
	g(0.7, 1)
	g(1.3, 2)
	g(3, 5)
	g(7.5, 10)
	g(120, 200)
}
