package plugin

import "testing"

func TestClientCertNormalize(t *testing.T) {
	for in, want := range map[string]string{"1F:2E:0A": "1f2e0a", "00:ff": "ff", "0": "0", "-0A": "-a", " abc ": "abc"} {
		if got := normalizeSerial(in); got != want {
			t.Errorf("normalizeSerial(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"CN=a, O=b,  C=FR": "CN=a,O=b,C=FR", `CN=a\, b, O=c`: `CN=a\, b,O=c`, "CN=a,O=b": "CN=a,O=b"} {
		if got := normalizeDN(in); got != want {
			t.Errorf("normalizeDN(%q) = %q, want %q", in, got, want)
		}
	}
	p := compileDN("CN=*, O=Torii")
	if !p.match("CN=x.y,O=Torii") || p.match("CN=x,O=Other") {
		t.Fatal("wildcard DN")
	}
	if e := compileDN("CN=a.b"); e.match("CN=aXb") || !e.match("CN=a.b") {
		t.Fatal("exact DN")
	}
}
