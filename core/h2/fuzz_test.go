package h2

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// Fuzz targets of the wire format (make fuzz runs them for FUZZTIME each; their seeds and
// testdata/fuzz/ regressions run with make test). x/net's hpack package is the oracle: it is
// the decoder Go's own HTTP/2 server uses.

// splitBlocks cuts data into header blocks at each 0xfe 0xfe pair, so that one input exercises
// the dynamic table across the blocks of a connection.
func splitBlocks(data []byte) [][]byte {
	return bytes.Split(data, []byte{0xfe, 0xfe})
}

// xnetDecode decodes block with x/net's decoder, as "name=value" lines.
func xnetDecode(d *hpack.Decoder, block []byte) ([]string, error) {
	var got []string
	d.SetEmitFunc(func(f hpack.HeaderField) { got = append(got, f.Name+"="+f.Value) })
	if _, err := d.Write(block); err != nil {
		return nil, err
	}
	if err := d.Close(); err != nil {
		return nil, err
	}
	return got, nil
}

// strictOnly reports whether block breaks one of the two rules where we are stricter than x/net
// (both allowed by RFC 7541): a dynamic table size update after a field (§4.2 says it MUST come
// first; x/net lets it pass while its table is empty), or an integer encoded on more than 5 bytes
// (§5.1 lets an implementation bound an integer's length; x/net reads up to 63 bits). It walks
// the representations with its own integer reader.
func strictOnly(block []byte) bool {
	readInt := func(b []byte, n uint) (v uint64, used int, long bool) {
		if len(b) == 0 {
			return 0, 0, false
		}
		mask := uint64(1)<<n - 1
		if v = uint64(b[0]) & mask; v < mask {
			return v, 1, false
		}
		for i := 1; i < len(b) && i < 11; i++ {
			v += uint64(b[i]&0x7f) << (7 * uint(i-1))
			if b[i]&0x80 == 0 {
				return v, i + 1, i+1 > 5
			}
		}
		return 0, 0, len(b) > 5
	}
	first := true
	for len(block) > 0 {
		b := block[0]
		var prefix uint
		switch {
		case b&0x80 != 0:
			prefix = 7
		case b&0xe0 == 0x20:
			if !first {
				return true
			}
			prefix = 5
		case b&0xc0 == 0x40:
			prefix = 6
		default:
			prefix = 4
		}
		idx, n, long := readInt(block, prefix)
		if long {
			return true
		}
		if n == 0 {
			return false
		}
		block = block[n:]
		if prefix == 7 || prefix == 5 {
			first = first && prefix == 5
			continue
		}
		first = false
		strs := 1
		if idx == 0 {
			strs = 2
		}
		for range strs {
			l, n, long := readInt(block, 7)
			if long {
				return true
			}
			if n == 0 || l > uint64(len(block)-n) {
				return false
			}
			block = block[n+int(l):]
		}
	}
	return false
}

func checkTable(t *testing.T, d *Decoder) {
	t.Helper()
	if d.size > d.max || d.max > d.limit {
		t.Fatalf("table size %d, max %d, limit %d", d.size, d.max, d.limit)
	}
	live := len(d.ents) - d.head
	if live*entryOverhead > int(d.max) {
		t.Fatalf("%d live entries in a %d-byte table", live, d.max)
	}
	// The data buffer holds the live entries and a dead front (entries evicted since the last
	// compaction, including by a size update), all of which fit under the limit when live.
	if len(d.data) > 3*int(d.limit) {
		t.Fatalf("table data %d bytes for a table limited to %d", len(d.data), d.limit)
	}
}

// FuzzDecode: arbitrary header blocks, decoded in sequence as on one connection, never panic,
// keep the dynamic table within its size, and decode to what x/net decodes (same fields, same
// validity but where strictOnly says we are stricter, as RFC 7541 allows).
func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, hf := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":path", Value: "/a?b"},
		{Name: "x-long", Value: strings.Repeat("v", 300)}, {Name: "cookie", Value: "a=b", Sensitive: true},
		{Name: "user-agent", Value: "fuzz/1.0"}} {
		_ = enc.WriteField(hf)
	}
	first := append([]byte(nil), buf.Bytes()...)
	f.Add(first)
	f.Add(append(append(append([]byte(nil), first...), 0xfe, 0xfe), 0xbe, 0xbf, 0xc0))
	f.Add([]byte{0x3f, 0xe1, 0x1f, 0x82})                            // size update to 4096 then :method GET
	f.Add([]byte{0x20, 0x40, 0x01, 'a', 0x01, 'b'})                  // size 0, then indexing into it
	f.Add([]byte{0x40, 0x81, 0x1f, 0x81, 0x1f})                      // Huffman name and value
	f.Add([]byte{0x7f, 0x80, 0x80, 0x80, 0x80, 0x00})                // long integer
	f.Add([]byte{0x10, 0x03, 'a', 'b', 'c', 0x00, 0xfe, 0xfe, 0xbe}) // never indexed, then dynamic ref
	f.Fuzz(func(t *testing.T, data []byte) {
		ours := NewDecoder(4096)
		theirs := hpack.NewDecoder(4096, nil)
		for i, block := range splitBlocks(data) {
			var c collect
			err := ours.Decode(block, &c)
			want, werr := xnetDecode(theirs, block)
			checkTable(t, ours)
			if (err == nil) != (werr == nil) {
				if err != nil && strictOnly(block) {
					return
				}
				t.Fatalf("block %d %x: ours %v, x/net %v", i, block, err, werr)
			}
			if err != nil {
				return // a connection error: the connection ends here
			}
			if strings.Join(c.got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("block %d %x:\n ours  %q\n x/net %q", i, block, c.got, want)
			}
		}
	})
}

// FuzzEncode: what AppendField and AppendStatus write decodes, with our decoder and with x/net's,
// to the fields given (names lower-cased), whatever the bytes.
func FuzzEncode(f *testing.F) {
	f.Add(200, "content-type", "text/plain", "X-Custom", "v\x00\xff")
	f.Add(999, "", "", "set-cookie", strings.Repeat("z", 200))
	f.Add(101, "SERVER", "torii", strings.Repeat("n", 70), "")
	f.Fuzz(func(t *testing.T, status int, n1, v1, n2, v2 string) {
		status = 100 + (status%900+900)%900
		blk := AppendStatus(nil, status)
		blk = AppendField(blk, []byte(n1), []byte(v1))
		blk = AppendField(blk, []byte(n2), []byte(v2))
		lower := func(s string) string { return string(lowerInto(make([]byte, len(s)), []byte(s))) }
		want := []string{":status=" + fmt.Sprint(status), lower(n1) + "=" + v1, lower(n2) + "=" + v2}
		var c collect
		if err := NewDecoder(0).Decode(blk, &c); err != nil {
			t.Fatalf("ours: %v on %x", err, blk)
		}
		got, err := xnetDecode(hpack.NewDecoder(0, nil), blk)
		if err != nil {
			t.Fatalf("x/net: %v on %x", err, blk)
		}
		if strings.Join(c.got, "\n") != strings.Join(want, "\n") || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("encoded %x\n ours  %q\n x/net %q\n want  %q", blk, c.got, got, want)
		}
	})
}

// FuzzDecodeXNetEncoded: what x/net's encoder writes (Huffman, indexing, evictions, table size
// changes) decodes with ours to the fields given.
func FuzzDecodeXNetEncoded(f *testing.F) {
	f.Add([]byte("a=b\ncookie=x\n:path=/\nx=\n"), uint16(4096), true)
	f.Add([]byte("big="+strings.Repeat("q", 5000)+"\nsmall=1\nsmall=1\n"), uint16(100), false)
	f.Fuzz(func(t *testing.T, spec []byte, size uint16, sensitive bool) {
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		d := NewDecoder(4096)
		tableSize := uint32(size) % 4097
		enc.SetMaxDynamicTableSizeLimit(4096)
		for i, blockSpec := range bytes.Split(spec, []byte{0xfe}) {
			if i == 1 {
				enc.SetMaxDynamicTableSize(tableSize)
			}
			buf.Reset()
			var want []string
			for line := range bytes.SplitSeq(blockSpec, []byte{'\n'}) {
				n, v, _ := strings.Cut(string(line), "=")
				_ = enc.WriteField(hpack.HeaderField{Name: n, Value: v, Sensitive: sensitive && len(v)%2 == 1})
				want = append(want, n+"="+v)
			}
			var c collect
			if err := d.Decode(buf.Bytes(), &c); err != nil {
				t.Fatalf("block %d: %v on %x", i, err, buf.Bytes())
			}
			checkTable(t, d)
			if strings.Join(c.got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("block %d:\n got  %q\n want %q", i, c.got, want)
			}
		}
	})
}

// FuzzFrameHeader: any 9 bytes parse, and writing the parsed header back gives the same bytes
// but the reserved bit.
func FuzzFrameHeader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < FrameHeaderLen {
			return
		}
		fh := ParseFrameHeader(b)
		out := AppendFrameHeader(nil, int(fh.Length), fh.Type, fh.Flags, fh.StreamID)
		want := append([]byte(nil), b[:FrameHeaderLen]...)
		want[5] &= 0x7f
		if !bytes.Equal(out, want) || fh.StreamID > MaxWindow || fh.Length > MaxMaxFrameSize {
			t.Fatalf("%x parsed as %+v, written back %x", b[:FrameHeaderLen], fh, out)
		}
	})
}
