package h2

import (
	"errors"

	"golang.org/x/net/http2/hpack"
)

// HPACK (RFC 7541). The decoder is ours because x/net's hpack.Decoder hands
// every literal field to its callback as Go strings (one allocation per
// literal name or value, two for a Huffman-coded one: see docs/ARCHITECTURE.md
// for the measurement); ours hands out byte slices that alias the header
// block, the dynamic table or a scratch buffer, and allocates nothing once its
// buffers have grown. Huffman decoding is x/net's (hpack.HuffmanDecode, which
// writes through a pooled buffer into ours).

// ErrCompression is a malformed header block: a connection error of type
// COMPRESSION_ERROR (RFC 9113 §4.3).
var ErrCompression = errors.New("h2: HPACK decoding error")

// Sink receives the fields of a header block, in order. name and value are
// valid only during the call. A non-nil error stops decoding and is returned
// by Decode.
type Sink interface {
	Field(name, value []byte) error
}

type staticEntry struct{ name, value string }

// staticTable is RFC 7541 Appendix A; index i+1 is staticTable[i].
var staticTable = [...]staticEntry{
	{":authority", ""}, {":method", "GET"}, {":method", "POST"}, {":path", "/"},
	{":path", "/index.html"}, {":scheme", "http"}, {":scheme", "https"}, {":status", "200"},
	{":status", "204"}, {":status", "206"}, {":status", "304"}, {":status", "400"},
	{":status", "404"}, {":status", "500"}, {"accept-charset", ""}, {"accept-encoding", "gzip, deflate"},
	{"accept-language", ""}, {"accept-ranges", ""}, {"accept", ""}, {"access-control-allow-origin", ""},
	{"age", ""}, {"allow", ""}, {"authorization", ""}, {"cache-control", ""},
	{"content-disposition", ""}, {"content-encoding", ""}, {"content-language", ""}, {"content-length", ""},
	{"content-location", ""}, {"content-range", ""}, {"content-type", ""}, {"cookie", ""},
	{"date", ""}, {"etag", ""}, {"expect", ""}, {"expires", ""},
	{"from", ""}, {"host", ""}, {"if-match", ""}, {"if-modified-since", ""},
	{"if-none-match", ""}, {"if-range", ""}, {"if-unmodified-since", ""}, {"last-modified", ""},
	{"link", ""}, {"location", ""}, {"max-forwards", ""}, {"proxy-authenticate", ""},
	{"proxy-authorization", ""}, {"range", ""}, {"referer", ""}, {"refresh", ""},
	{"retry-after", ""}, {"server", ""}, {"set-cookie", ""}, {"strict-transport-security", ""},
	{"transfer-encoding", ""}, {"user-agent", ""}, {"vary", ""}, {"via", ""},
	{"www-authenticate", ""},
}

// staticNames maps a lower-case field name to its first static index.
var staticNames = func() map[string]uint64 {
	m := make(map[string]uint64, len(staticTable))
	for i := len(staticTable) - 1; i >= 0; i-- {
		m[staticTable[i].name] = uint64(i + 1)
	}
	return m
}()

// entryOverhead is the per-entry size overhead of RFC 7541 §4.1.
const entryOverhead = 32

// tableEntry locates one dynamic-table entry in Decoder.data.
type tableEntry struct{ off, nameLen, valueLen uint32 }

// Decoder decodes HPACK header blocks of one connection. Not safe for
// concurrent use.
type Decoder struct {
	limit uint32 // SETTINGS_HEADER_TABLE_SIZE we advertised: the most a size update may ask
	max   uint32 // the table's current maximum size
	size  uint32 // the table's current size (RFC 7541 §4.1)
	// ents is a FIFO of entries, oldest first from head; their bytes are in
	// data, appended at the end and compacted when the front is dropped.
	ents []tableEntry
	head int
	data []byte
	// scratch holds Huffman-decoded strings of the field being emitted.
	scratch appender
}

// appender is an io.Writer appending to its slice.
type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) { a.b = append(a.b, p...); return len(p), nil }

// NewDecoder returns a decoder whose dynamic table may grow to tableSize.
func NewDecoder(tableSize uint32) *Decoder {
	d := &Decoder{}
	d.Reset(tableSize)
	return d
}

// Reset empties the dynamic table and sets its limit, for a new connection.
func (d *Decoder) Reset(tableSize uint32) {
	d.limit, d.max, d.size = tableSize, tableSize, 0
	d.ents, d.head = d.ents[:0], 0
	d.data = d.data[:0]
}

// Decode decodes block, a complete header block, calling s for each field.
func (d *Decoder) Decode(block []byte, s Sink) error {
	first := true
	for len(block) > 0 {
		b := block[0]
		switch {
		case b&0x80 != 0: // indexed field (§6.1)
			idx, n, err := readInt(block, 7)
			if err != nil {
				return err
			}
			block = block[n:]
			name, value, err := d.at(idx)
			if err != nil {
				return err
			}
			if err := s.Field(name, value); err != nil {
				return err
			}
		case b&0xe0 == 0x20: // dynamic table size update (§6.3)
			if !first {
				return ErrCompression
			}
			v, n, err := readInt(block, 5)
			if err != nil {
				return err
			}
			block = block[n:]
			if v > uint64(d.limit) {
				return ErrCompression
			}
			d.max = uint32(v)
			d.evict(0)
			continue // more updates may follow at the start
		default:
			prefix, index := uint8(4), false
			if b&0xc0 == 0x40 {
				prefix, index = 6, true // literal with incremental indexing (§6.2.1)
			}
			rest, err := d.literal(block, prefix, index, s)
			if err != nil {
				return err
			}
			block = rest
		}
		first = false
	}
	return nil
}

// literal decodes one literal field at the start of block.
func (d *Decoder) literal(block []byte, prefix uint8, index bool, s Sink) ([]byte, error) {
	idx, n, err := readInt(block, prefix)
	if err != nil {
		return nil, err
	}
	block = block[n:]
	d.scratch.b = d.scratch.b[:0]
	var name []byte
	nameHuff := -1 // offset in scratch of a Huffman-decoded name
	if idx > 0 {
		name, _, err = d.at(idx)
		if err != nil {
			return nil, err
		}
	} else {
		var huff bool
		name, huff, block, err = readString(block)
		if err != nil {
			return nil, err
		}
		if huff {
			if _, err := hpack.HuffmanDecode(&d.scratch, name); err != nil {
				return nil, ErrCompression
			}
			nameHuff = len(d.scratch.b)
		}
	}
	value, huff, block, err := readString(block)
	if err != nil {
		return nil, err
	}
	if huff {
		start := len(d.scratch.b)
		if _, err := hpack.HuffmanDecode(&d.scratch, value); err != nil {
			return nil, ErrCompression
		}
		value = d.scratch.b[start:]
	}
	if nameHuff >= 0 {
		name = d.scratch.b[:nameHuff]
	}
	if index {
		// name may alias the table: add copies it before evicting.
		if d.add(name, value) {
			e := d.ents[len(d.ents)-1]
			name = d.data[e.off : e.off+e.nameLen]
			value = d.data[e.off+e.nameLen : e.off+e.nameLen+e.valueLen]
		}
	}
	return block, s.Field(name, value)
}

// at returns the field at index idx of the combined table (§2.3.3).
func (d *Decoder) at(idx uint64) (name, value []byte, err error) {
	if idx == 0 {
		return nil, nil, ErrCompression
	}
	if idx <= uint64(len(staticTable)) {
		e := &staticTable[idx-1]
		return staticBytes(e.name), staticBytes(e.value), nil
	}
	i := idx - uint64(len(staticTable)) // 1 is the newest
	live := uint64(len(d.ents) - d.head)
	if i > live {
		return nil, nil, ErrCompression
	}
	e := d.ents[len(d.ents)-int(i)]
	return d.data[e.off : e.off+e.nameLen], d.data[e.off+e.nameLen : e.off+e.nameLen+e.valueLen], nil
}

// add inserts a field as the newest entry, evicting as needed (§4.4). name
// and value may alias d.data. A field larger than the table empties it and
// is not added (reported false).
func (d *Decoder) add(name, value []byte) bool {
	sz := uint64(len(name)) + uint64(len(value)) + entryOverhead
	if sz > uint64(d.max) {
		d.ents, d.head, d.data, d.size = d.ents[:0], 0, d.data[:0], 0
		return false
	}
	// Copy first: evicting may compact data, which name and value alias.
	start := len(d.data)
	d.data = append(d.data, name...)
	d.data = append(d.data, value...)
	d.evict(uint32(sz))
	d.ents = append(d.ents, tableEntry{off: uint32(start), nameLen: uint32(len(name)), valueLen: uint32(len(value))})
	d.size += uint32(sz)
	d.compact()
	return true
}

// evict drops the oldest entries until room bytes fit under the maximum.
func (d *Decoder) evict(room uint32) {
	for d.head < len(d.ents) && d.size+room > d.max {
		e := d.ents[d.head]
		d.size -= e.nameLen + e.valueLen + entryOverhead
		d.head++
	}
}

// compact moves the live entries to the front of ents and data once the
// dead front is as large as the live part.
func (d *Decoder) compact() {
	if d.head == 0 || d.head < len(d.ents)-d.head {
		return
	}
	live := d.ents[d.head:]
	if len(live) == 0 {
		d.ents, d.head, d.data = d.ents[:0], 0, d.data[:0]
		return
	}
	base := live[0].off
	n := copy(d.ents, live)
	d.ents = d.ents[:n]
	d.head = 0
	m := copy(d.data, d.data[base:])
	d.data = d.data[:m]
	for i := range d.ents {
		d.ents[i].off -= base
	}
}

// staticBytes returns the bytes of a static string without copying; the
// result must not be modified.
func staticBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafeBytes(s)
}

// readInt decodes an integer with an n-bit prefix (§5.1).
func readInt(b []byte, n uint8) (uint64, int, error) {
	if len(b) == 0 {
		return 0, 0, ErrCompression
	}
	mask := uint64(1)<<n - 1
	v := uint64(b[0]) & mask
	if v < mask {
		return v, 1, nil
	}
	var m uint
	for i := 1; i < len(b); i++ {
		c := b[i]
		v += uint64(c&0x7f) << m
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
		m += 7
		if m >= 28 { // larger than any size we accept
			return 0, 0, ErrCompression
		}
	}
	return 0, 0, ErrCompression
}

// readString decodes a string literal header (§5.2): the raw bytes, whether
// they are Huffman-coded, and what follows.
func readString(b []byte) (s []byte, huff bool, rest []byte, err error) {
	if len(b) == 0 {
		return nil, false, nil, ErrCompression
	}
	huff = b[0]&0x80 != 0
	l, n, err := readInt(b, 7)
	if err != nil {
		return nil, false, nil, err
	}
	b = b[n:]
	if l > uint64(len(b)) {
		return nil, false, nil, ErrCompression
	}
	return b[:l], huff, b[l:], nil
}

// AppendInt appends v with an n-bit prefix whose high bits are first's.
func AppendInt(dst []byte, first byte, n uint8, v uint64) []byte {
	mask := uint64(1)<<n - 1
	if v < mask {
		return append(dst, first|byte(v))
	}
	dst = append(dst, first|byte(mask))
	v -= mask
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// AppendStatus appends :status code, indexed when the static table has it.
func AppendStatus(dst []byte, code int) []byte {
	switch code {
	case 200:
		return append(dst, 0x88)
	case 204:
		return append(dst, 0x89)
	case 206:
		return append(dst, 0x8a)
	case 304:
		return append(dst, 0x8b)
	case 400:
		return append(dst, 0x8c)
	case 404:
		return append(dst, 0x8d)
	case 500:
		return append(dst, 0x8e)
	}
	// Literal without indexing, name index 8 (":status").
	dst = append(dst, 0x08, 3)
	return append(dst, byte('0'+code/100%10), byte('0'+code/10%10), byte('0'+code%10))
}

// AppendField appends a field as a literal without indexing (§6.2.2), its
// name lower-cased, with the static table's name index when it has one.
// Nothing enters a dynamic table, so the peer's table size never matters.
func AppendField(dst, name, value []byte) []byte {
	var low [64]byte
	if len(name) <= len(low) {
		l := lowerInto(low[:len(name)], name)
		if idx, ok := staticNames[string(l)]; ok {
			dst = AppendInt(dst, 0x00, 4, idx)
			dst = AppendInt(dst, 0x00, 7, uint64(len(value)))
			return append(dst, value...)
		}
	}
	dst = append(dst, 0x00)
	dst = AppendInt(dst, 0x00, 7, uint64(len(name)))
	start := len(dst)
	dst = append(dst, name...)
	lowerInto(dst[start:], dst[start:])
	dst = AppendInt(dst, 0x00, 7, uint64(len(value)))
	return append(dst, value...)
}

// lowerInto writes the ASCII lower case of src into dst (same length) and
// returns dst.
func lowerInto(dst, src []byte) []byte {
	for i, c := range src {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst[i] = c
	}
	return dst
}
