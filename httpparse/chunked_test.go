package httpparse

import (
	"strings"
	"testing"
)

// decodeAll runs d over in, feeding it step bytes more each time it asks for
// more, and returns the body, the trailer bytes and the bytes consumed.
func decodeAll(in string, step int) (body, trailer string, used int, err error) {
	var d ChunkedDecoder
	buf := []byte(in)
	var out strings.Builder
	avail := min(step, len(buf))
	for calls := 0; calls < 10*len(in)+10; calls++ {
		n, data, done, err := d.Decode(buf[used:avail])
		if err == ErrNeedMore {
			if avail == len(buf) {
				return out.String(), "", used, err
			}
			avail = min(avail+step, len(buf))
			continue
		}
		if err != nil {
			return out.String(), "", used, err
		}
		out.Write(data.Bytes(buf[used:avail]))
		if done {
			return out.String(), string(d.Trailer().Bytes(buf[used:avail])), used + n, nil
		}
		used += n
	}
	panic("BUG: decoder made no progress")
}

func TestChunkedDecoder(t *testing.T) {
	f := func(rfc, in, body, trailer string) {
		t.Helper()
		for _, step := range []int{1, 2, 3, 7, len(in)} {
			gotBody, gotTrailer, used, err := decodeAll(in+"NEXT", step)
			if err != nil || gotBody != body || gotTrailer != trailer || used != len(in) {
				t.Errorf("%s: %q step %d: body %q trailer %q used %d err %v", rfc, in, step, gotBody, gotTrailer, used, err)
			}
		}
	}
	f("9112 §7.1", "0\r\n\r\n", "", "")
	f("9112 §7.1", "5\r\nhello\r\n0\r\n\r\n", "hello", "")
	f("9112 §7.1", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", "")
	f("9112 §7.1", "A\r\n0123456789\r\na\r\n0123456789\r\n000\r\n\r\n", "01234567890123456789", "")
	f("9112 §7.1", "0000000000000003\r\nabc\r\n0\r\n\r\n", "abc", "")
	f("9112 §7.1", "3\r\na\r\n\r\n0\r\n\r\n", "a\r\n", "")
	f("9112 §7.1.1", "3;ext\r\nabc\r\n0\r\n\r\n", "abc", "")
	f("9112 §7.1.1", "3 ; a=b ;c=\"q \\\" d\"\t;e\r\nabc\r\n0;x=y\r\n\r\n", "abc", "")
	f("9112 §7.1.2", "3\r\nabc\r\n0\r\nX-Sum: 1\r\nY:2\r\n\r\n", "abc", "X-Sum: 1\r\nY:2\r\n")
}

func TestChunkedDecoderRejects(t *testing.T) {
	f := func(rfc, in string, want *Error) {
		t.Helper()
		steps := []int{1, len(in)}
		if len(in) > 1000 { // stepping by 1 is quadratic
			steps[0] = 97
		}
		for _, step := range steps {
			_, _, _, err := decodeAll(in, step)
			if err != want {
				t.Errorf("%s: %q step %d: got %v, want %v", rfc, in, step, err, want)
			}
		}
	}
	f("9112 §7.1", "x\r\n", ErrBadChunkSize)
	f("9112 §7.1", "\r\n", ErrBadChunkSize)
	f("9112 §7.1", "-1\r\n", ErrBadChunkSize)
	f("9112 §7.1", "+1\r\n", ErrBadChunkSize)
	f("9112 §7.1", "0x1\r\n", ErrBadChunkSize)
	f("9112 §7.1", "1g\r\n", ErrBadChunkSize)
	f("9112 §7.1", "8000000000000000\r\n", ErrChunkSizeOverflow)
	f("9112 §7.1", "FFFFFFFFFFFFFFFF\r\n", ErrChunkSizeOverflow)
	f("9112 §7.1", "00000000000000001\r\n", ErrChunkSizeOverflow)
	f("9112 §7.1", "10000000000000000\r\n", ErrChunkSizeOverflow)
	f("9112 §2.2", "1\nx\r\n", ErrBareLF)
	f("9112 §2.2", "1\r\nx\r\n\n", ErrBareLF)
	f("9112 §2.2", "1;a\nx\r\n", ErrBareLF)
	f("9112 §2.2", "1\rx\r\n", ErrBareCR)
	f("9112 §7.1", "1\r\nxy\r\n", ErrBadChunkEnd)
	f("9112 §2.2", "1\r\nx\n0\r\n\r\n", ErrBareLF)
	f("9112 §7.1", "1\r\nx\rx", ErrBadChunkEnd)
	f("9112 §7.1.1", "1 \r\nx\r\n", ErrBadChunkExt)
	f("9112 §7.1.1", "1;\r\nx\r\n", ErrBadChunkExt)
	f("9112 §7.1.1", "1;a=\r\nx\r\n", ErrBadChunkExt)
	f("9112 §7.1.1", "1;a=\"x\r\nx\r\n", ErrBadChunkExt)
	f("9112 §7.1.1", "1;a=b c\r\nx\r\n", ErrBadChunkExt)
	f("9112 §7.1.1", "1;a\x00\r\nx\r\n", ErrBadChunkExt)
	f("9112 §7.1.1", "1;a=\"\x01\"\r\nx\r\n", ErrBadChunkExt)
	f("9112 §7.1.1", "1;"+strings.Repeat("a", maxChunkLine), ErrChunkLineTooLong)
	f("9112 §7.1.2", "0\r\nX : 1\r\n\r\n", ErrSpaceBeforeColon)
	f("9112 §7.1.2", "0\r\nX: 1\r\n y\r\n\r\n", ErrObsFold)
	f("9112 §7.1.2", "0\r\nX: \x00\r\n\r\n", ErrBadHeaderValue)
	f("9112 §7.1.2", "0\r\nX: 1\n\r\n", ErrBareLF)
	f("9112 §7.1.2", "0\r\n\r\r\n", ErrBareCR)
	f("9112 §7.1.2", "0\r\n"+strings.Repeat("X: 1\r\n", maxTrailerFields+1)+"\r\n", ErrTrailerTooLarge)
	f("9112 §7.1.2", "0\r\nX: "+strings.Repeat("v", maxTrailerBytes), ErrTrailerTooLarge)
}

func TestChunkedDecoderSticky(t *testing.T) {
	var d ChunkedDecoder
	if _, _, _, err := d.Decode([]byte("zz\r\n")); err != ErrBadChunkSize {
		t.Fatalf("got %v", err)
	}
	if _, _, _, err := d.Decode([]byte("0\r\n\r\n")); err != ErrBadChunkSize {
		t.Fatalf("error not sticky: %v", err)
	}
	d.Reset()
	n, _, done, err := d.Decode([]byte("0\r\n\r\n"))
	if err != nil || done || n != 3 {
		t.Fatalf("after Reset: (%d, %v, %v)", n, done, err)
	}
	n, _, done, err = d.Decode([]byte("\r\n"))
	if err != nil || !done || n != 2 || !d.Done() {
		t.Fatalf("trailer: (%d, %v, %v)", n, done, err)
	}
	if n, _, done, err = d.Decode([]byte("more")); n != 0 || !done || err != nil {
		t.Fatalf("after done: (%d, %v, %v)", n, done, err)
	}
}

func TestChunkedDecoderLargeChunk(t *testing.T) {
	// A chunk announced larger than what arrives: data is handed out as it comes.
	var d ChunkedDecoder
	if n, _, _, err := d.Decode([]byte("7fffffffffffffff\r\n")); err != nil || n != 18 {
		t.Fatalf("size line: %d %v", n, err)
	}
	n, data, done, err := d.Decode(make([]byte, 1000))
	if err != nil || n != 1000 || data.Len() != 1000 || done {
		t.Fatalf("data: %d %d %v %v", n, data.Len(), done, err)
	}
	if _, _, _, err := d.Decode(nil); err != ErrNeedMore {
		t.Fatalf("empty: %v", err)
	}
}
