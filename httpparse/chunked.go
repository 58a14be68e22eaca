package httpparse

import "math"

const (
	// maxChunkLine bounds a chunk-size line (size and extensions, without
	// CRLF): a peer must not make the proxy buffer an endless chunk extension.
	maxChunkLine = 4096
	// maxChunkSizeDigits bounds the hex digits of a chunk-size, leading zeros
	// included: more than 16 cannot fit in 64 bits, and a parser that wraps
	// around on overflow reads a different body length than we do (smuggling).
	maxChunkSizeDigits = 16
	// maxTrailerBytes bounds the trailer section, as MaxHeaderBytes bounds
	// the header section: no endless trailers held in memory.
	maxTrailerBytes = 16 << 10
	// maxTrailerFields bounds the trailer field lines, like the caller's
	// header capacity bounds the header fields.
	maxTrailerFields = 64
)

// The elements of a chunked body, in the order the decoder expects them.
const (
	chunkSizeLine uint8 = iota // chunk-size [ chunk-ext ] CRLF, or last-chunk
	chunkData                  // chunk-data
	chunkDataEnd               // the CRLF after chunk-data
	chunkTrailer               // trailer-section CRLF
	chunkDone                  // the body is complete
	chunkFailed                // a previous call returned an error
)

// ChunkedDecoder decodes a chunked body incrementally (RFC 9112 §7.1):
//
//	chunked-body = *chunk last-chunk trailer-section CRLF
//	chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//	chunk-size   = 1*HEXDIG
//	last-chunk   = 1*("0") [ chunk-ext ] CRLF
//
// The zero value is ready to decode the start of a body; Reset makes it
// ready again. It keeps no reference to any buffer. A ChunkedDecoder is not
// safe for concurrent use.
type ChunkedDecoder struct {
	state   uint8
	remain  int64 // chunk-data bytes left in the current chunk
	err     error // the sticky error once state is chunkFailed
	trailer Span
}

// Reset makes d ready to decode a new body.
func (d *ChunkedDecoder) Reset() { *d = ChunkedDecoder{} }

// Done reports whether the whole body, trailers included, has been decoded.
func (d *ChunkedDecoder) Done() bool { return d.state == chunkDone }

// Trailer returns the span of the trailer field lines (without the final
// empty line) inside the buf of the Decode call that returned done; it is
// empty when there were no trailers. The fields are syntax-checked like
// header fields, not interpreted.
func (d *ChunkedDecoder) Trailer() Span { return d.trailer }

// Decode advances over at most one element of a chunked body at the start of
// buf: a chunk-size line, a piece of chunk data, the CRLF after chunk data,
// or the trailer section with the final CRLF. data is the span of chunk data
// inside buf (empty for the other elements); a chunk's data may arrive in
// several pieces. done is true once the last chunk and the trailer section
// are consumed; Decode then returns (0, Span{}, true, nil) forever.
//
// consumed is how many bytes of buf were used; the caller drops them and
// calls again with what follows. ErrNeedMore means the element is not
// complete in buf: call again with more bytes from the same start. Every
// call either consumes at least one byte, reports done, or returns an error,
// so a decoding loop always terminates. After an error, Decode keeps
// returning it until Reset. data aliases buf and is valid as long as buf is.
func (d *ChunkedDecoder) Decode(buf []byte) (consumed int, data Span, done bool, err error) {
	switch d.state {
	case chunkSizeLine:
		consumed, err = d.sizeLine(buf)
	case chunkData:
		if len(buf) == 0 {
			return 0, Span{}, false, ErrNeedMore
		}
		k := int64(min(len(buf), math.MaxInt32))
		k = min(k, d.remain)
		d.remain -= k
		if d.remain == 0 {
			d.state = chunkDataEnd
		}
		return int(k), Span{0, int32(k)}, false, nil
	case chunkDataEnd:
		switch {
		case len(buf) == 0:
			err = ErrNeedMore
		case buf[0] == '\n':
			err = ErrBareLF
		case buf[0] != '\r':
			err = ErrBadChunkEnd
		case len(buf) == 1:
			err = ErrNeedMore
		case buf[1] != '\n':
			err = ErrBadChunkEnd
		default:
			d.state = chunkSizeLine
			consumed = 2
		}
	case chunkTrailer:
		consumed, err = d.trailerSection(buf)
	case chunkDone:
		return 0, Span{}, true, nil
	default:
		return 0, Span{}, false, d.err
	}
	if err != nil {
		if err != ErrNeedMore {
			d.state, d.err = chunkFailed, err
		}
		return 0, Span{}, false, err
	}
	return consumed, Span{}, d.state == chunkDone, nil
}

// sizeLine parses chunk-size [ chunk-ext ] CRLF at the start of buf.
func (d *ChunkedDecoder) sizeLine(buf []byte) (int, error) {
	tooLong := ErrNeedMore
	if len(buf) >= maxChunkLine+2 {
		buf = buf[:maxChunkLine+2]
		tooLong = ErrChunkLineTooLong
	}
	var size uint64
	i := 0
	for ; i < len(buf) && charClass[buf[i]]&classHex != 0; i++ {
		if i == maxChunkSizeDigits {
			return 0, ErrChunkSizeOverflow
		}
		size = size<<4 | uint64(unhex(buf[i]))
	}
	if size > math.MaxInt64 {
		return 0, ErrChunkSizeOverflow
	}
	if i == len(buf) {
		return 0, ErrNeedMore // at most maxChunkSizeDigits bytes so far
	}
	if i == 0 {
		if buf[0] == '\n' {
			return 0, ErrBareLF
		}
		return 0, ErrBadChunkSize
	}
	switch c := buf[i]; c {
	case '\r', ';', ' ', '\t':
	case '\n':
		return 0, ErrBareLF
	default:
		return 0, ErrBadChunkSize
	}
	// Find the end of the line, then check the extensions in one go.
	e := i
	for e < len(buf) && buf[e] != '\r' && buf[e] != '\n' {
		e++
	}
	if e == len(buf) {
		return 0, tooLong
	}
	if buf[e] == '\n' {
		return 0, ErrBareLF
	}
	if e+1 == len(buf) {
		return 0, tooLong
	}
	if buf[e+1] != '\n' {
		return 0, ErrBareCR
	}
	if err := checkChunkExt(buf, i, e); err != nil {
		return 0, err
	}
	if size == 0 {
		d.state = chunkTrailer
	} else {
		d.state, d.remain = chunkData, int64(size)
	}
	return e + 2, nil
}

// checkChunkExt checks buf[i:end] against (RFC 9112 §7.1.1)
//
//	chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//	chunk-ext-name = token
//	chunk-ext-val  = token / quoted-string
func checkChunkExt(buf []byte, i, end int) error {
	for {
		if i == end {
			return nil
		}
		i = skipOWS(buf, i, end)
		if i == end || buf[i] != ';' {
			return ErrBadChunkExt
		}
		i = skipOWS(buf, i+1, end)
		s := i
		for i < end && isTchar(buf[i]) {
			i++
		}
		if s == i {
			return ErrBadChunkExt
		}
		j := skipOWS(buf, i, end)
		if j == end || buf[j] != '=' {
			continue
		}
		var err error
		if i, err = skipTokenOrQuoted(buf, skipOWS(buf, j+1, end), end, ErrBadChunkExt); err != nil {
			return err
		}
	}
}

// unhex returns the value of the hex digit c.
func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return toLower(c) - 'a' + 10
}

// trailerSection parses trailer-section CRLF at the start of buf
// (RFC 9112 §7.1.2): field lines checked like header fields, then an empty line.
func (d *ChunkedDecoder) trailerSection(buf []byte) (int, error) {
	tooLarge := ErrNeedMore
	if len(buf) >= maxTrailerBytes {
		buf = buf[:maxTrailerBytes]
		tooLarge = ErrTrailerTooLarge
	}
	i := 0
	var h Header
	for fields := 0; ; fields++ {
		if i+1 >= len(buf) {
			if i < len(buf) && buf[i] != '\r' {
				if _, err := parseFieldLine(buf, i, &h); err != ErrNeedMore {
					return 0, err
				}
			}
			return 0, tooLarge
		}
		if buf[i] == '\r' {
			if buf[i+1] != '\n' {
				return 0, ErrBareCR
			}
			d.trailer = Span{0, int32(i)}
			d.state = chunkDone
			return i + 2, nil
		}
		if fields == maxTrailerFields {
			return 0, ErrTrailerTooLarge
		}
		next, err := parseFieldLine(buf, i, &h)
		if err != nil {
			if err == ErrNeedMore {
				err = tooLarge
			}
			return 0, err
		}
		i = next
	}
}
