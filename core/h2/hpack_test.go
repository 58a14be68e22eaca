package h2

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"
)

type collect struct{ got []string }

func (c *collect) Field(name, value []byte) error {
	c.got = append(c.got, string(name)+"="+string(value))
	return nil
}

// TestDecoderAgainstXNet: blocks written by x/net's encoder (Huffman on, dynamic table in use,
// evictions, a table size update, never-indexed fields) decode to the same fields.
func TestDecoderAgainstXNet(t *testing.T) {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	d := NewDecoder(4096)
	for round := range 60 {
		buf.Reset()
		if round == 30 {
			enc.SetMaxDynamicTableSize(256)
		}
		want := []string{":method=GET", ":path=/r" + fmt.Sprint(round%7), ":authority=example.test",
			"user-agent=" + strings.Repeat("agent", round%5),
			"x-big=" + strings.Repeat(fmt.Sprint(round), 200),
			"cookie=a=b", "accept-encoding=gzip, deflate", "x-empty="}
		for _, f := range want {
			n, v, _ := strings.Cut(f, "=")
			_ = enc.WriteField(hpack.HeaderField{Name: n, Value: v, Sensitive: n == "cookie"})
		}
		var c collect
		if err := d.Decode(buf.Bytes(), &c); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if strings.Join(c.got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("round %d:\n got %q\nwant %q", round, c.got, want)
		}
		if d.size > d.max {
			t.Fatalf("round %d: table size %d over %d", round, d.size, d.max)
		}
	}
}

// TestDecoderErrors: malformed blocks are COMPRESSION_ERROR, never a panic.
func TestDecoderErrors(t *testing.T) {
	for name, b := range map[string][]byte{
		"index 0":                 {0x80},
		"index past the tables":   {0xbe},
		"truncated integer":       {0xff, 0x80},
		"huge integer":            {0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"string past the block":   {0x40, 0x05, 'a'},
		"size update too large":   {0x3f, 0xe2, 0x1f},
		"size update after field": {0x82, 0x20},
		"bad huffman padding":     {0x40, 0x81, 0x00, 0x00},
	} {
		if err := NewDecoder(4096).Decode(b, &collect{}); err != ErrCompression {
			t.Errorf("%s: %v, want ErrCompression", name, err)
		}
	}
}

type nop struct{ n int }

func (s *nop) Field(name, value []byte) error { s.n += len(name) + len(value); return nil }

// TestDecoderAllocs: decoding a browser-like block, literal and Huffman fields included,
// allocates nothing once the decoder's buffers have grown.
func TestDecoderAllocs(t *testing.T) {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	fields := []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
		{Name: ":path", Value: "/api/v1/items?page=2"}, {Name: ":authority", Value: "api.example.test"},
		{Name: "user-agent", Value: "Mozilla/5.0 (X11; Linux x86_64)"}, {Name: "accept", Value: "application/json"},
		{Name: "x-request-id", Value: "c0ffee-1234", Sensitive: true}}
	for _, f := range fields {
		_ = enc.WriteField(f)
	}
	first := append([]byte(nil), buf.Bytes()...)
	d := NewDecoder(4096)
	s := &nop{}
	if err := d.Decode(first, s); err != nil {
		t.Fatal(err)
	}
	// The literal-only block (never indexed: decoded every time, Huffman).
	buf.Reset()
	enc2 := hpack.NewEncoder(&buf)
	for _, f := range fields {
		f.Sensitive = true
		_ = enc2.WriteField(f)
	}
	lit := buf.Bytes()
	if n := testing.AllocsPerRun(200, func() { _ = d.Decode(lit, s) }); n != 0 {
		t.Errorf("%v allocations per literal block", n)
	}
}

// BenchmarkDecode compares our decoder with x/net's on the same literal (never-indexed,
// Huffman-coded) block: x/net allocates a string per name and value.
//
//	go test ./core/h2 -run XXX -bench Decode -benchmem
func BenchmarkDecode(b *testing.B) {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":path", Value: "/api/v1/items?page=2"},
		{Name: ":authority", Value: "api.example.test"}, {Name: "user-agent", Value: "Mozilla/5.0 (X11; Linux x86_64)"},
		{Name: "accept", Value: "application/json"}, {Name: "x-request-id", Value: "c0ffee-1234"}} {
		f.Sensitive = true
		_ = enc.WriteField(f)
	}
	block := buf.Bytes()
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		d := NewDecoder(4096)
		s := &nop{}
		for b.Loop() {
			_ = d.Decode(block, s)
		}
	})
	b.Run("x-net", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		d := hpack.NewDecoder(4096, func(f hpack.HeaderField) { n += len(f.Name) + len(f.Value) })
		for b.Loop() {
			_, _ = d.Write(block)
		}
	})
}
