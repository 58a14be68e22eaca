package core

import (
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"

	"github.com/torii-gateway/torii/httpparse"
)

// GzipResponseCompressor's body path. The loop decides at the response head
// (plugin.Chain.Gzip), writes the rewritten head (no Content-Length,
// Content-Encoding: gzip, Vary, chunked) and hands the body to a pump
// (outGzip): the pump goroutine decodes the backend's framing, compresses
// and writes one chunk per batch read from the backend, each flushed
// (gzip.Writer.Flush), so a streaming response keeps flowing and no loop
// ever runs the compressor.

// gzipInlineMax is the largest body compressed on the loop: a known length
// already wholly received with the head. Larger or streamed bodies go to a
// pump. Its cost is measured by BenchmarkGzipInline.
const gzipInlineMax = 8 << 10

// appendGzipBody appends body to dst compressed, as one chunk and the last
// chunk. On the loop; no allocation once the pool is warm.
func appendGzipBody(dst, body []byte, level int) []byte {
	st := getGzip(level, nil)
	_, _ = st.zw.Write(body) // into memory: cannot fail
	_ = st.zw.Close()
	if n := len(st.cw.b) - chunkHeadRoom; n > 0 {
		dst = appendChunkSize(dst, n)
		dst = append(dst, st.cw.b[chunkHeadRoom:]...)
		dst = append(dst, crlf...)
	}
	st.cw.b = st.cw.b[:0]
	putGzip(level, st)
	return append(dst, lastChunk...)
}

// gzipState is a pooled compressor with its chunk buffer and read buffer.
type gzipState struct {
	zw  *gzip.Writer
	cw  chunkBuffer
	buf []byte
}

// gzipPools holds one pool per compression level (1 to 9).
var gzipPools [10]sync.Pool

func getGzip(level int, w io.Writer) *gzipState {
	if st, ok := gzipPools[level].Get().(*gzipState); ok {
		st.cw.w = w
		st.zw.Reset(&st.cw)
		return st
	}
	st := &gzipState{buf: make([]byte, pumpBuf)}
	st.cw.w = w
	zw, err := gzip.NewWriterLevel(&st.cw, level)
	if err != nil { // the level was checked at publish
		zw = gzip.NewWriter(&st.cw)
	}
	st.zw = zw
	return st
}

func putGzip(level int, st *gzipState) {
	st.cw.w = nil
	if cap(st.cw.b) > 4*pumpBuf {
		st.cw.b = nil // an unusually large batch: do not keep its buffer
	}
	gzipPools[level].Put(st)
}

// chunkBuffer collects what the compressor writes and sends it as one chunk
// on flush: the compressor writes in small pieces, the client gets one
// write per batch.
type chunkBuffer struct {
	w io.Writer
	b []byte // reserved room for the chunk-size line, then the data
}

const chunkHeadRoom = 18 // 16 hex digits and CRLF

func (c *chunkBuffer) Write(p []byte) (int, error) {
	if len(c.b) == 0 {
		c.b = append(c.b[:0], make([]byte, chunkHeadRoom)...)
	}
	c.b = append(c.b, p...)
	return len(p), nil
}

// flush writes the collected bytes as a chunk, followed by last when not nil.
func (c *chunkBuffer) flush(last []byte) error {
	var out []byte
	if n := len(c.b) - chunkHeadRoom; n > 0 {
		var head [chunkHeadRoom]byte
		h := appendChunkSize(head[:0], n)
		start := chunkHeadRoom - len(h)
		copy(c.b[start:], h)
		c.b = append(c.b, crlf...)
		out = c.b[start:]
	}
	out = append(out, last...)
	c.b = c.b[:0]
	if len(out) == 0 {
		return nil
	}
	_, err := c.w.Write(out)
	return err
}

// gzipSink compresses each Write as one batch: compressed, flushed, sent as a chunk.
type gzipSink struct{ st *gzipState }

func (g gzipSink) Write(p []byte) (int, error) {
	if _, err := g.st.zw.Write(p); err != nil {
		return 0, err
	}
	if err := g.st.zw.Flush(); err != nil {
		return 0, err
	}
	if err := g.st.cw.flush(nil); err != nil {
		return 0, err
	}
	return len(p), nil
}

// pumpGzip copies the rest of the response body from job.upstream to
// job.client, compressed and chunked (outGzip).
func (s *Server) pumpGzip(job *pumpJob) error {
	us := job.us
	level := int(us.gzipLevel)
	st := getGzip(level, job.client)
	defer putGzip(level, st)
	sink := gzipSink{st}
	var err error
	switch us.framing {
	case httpparse.FramingChunked:
		src := &limitReader{r: job.upstream, left: bodyBudget(job.cc.body.respMax, job.cc.body.sent)}
		var n int64
		_, n, err = pumpChunked(sink, src, job.upCarry, &us.dec, true, true, nil)
		job.moved += n
	case httpparse.FramingLength:
		left := us.left
		if len(job.upCarry) > 0 {
			n := min(int64(len(job.upCarry)), left)
			if _, err := sink.Write(job.upCarry[:n]); err != nil {
				return err
			}
			job.moved += n
			left -= n
		}
		err = copyBatches(sink, io.LimitReader(job.upstream, left), st.buf, job, left)
	default:
		if len(job.upCarry) > 0 {
			if _, err := sink.Write(job.upCarry); err != nil {
				return err
			}
			job.moved += int64(len(job.upCarry))
		}
		src := &limitReader{r: job.upstream, left: bodyBudget(job.cc.body.respMax, job.cc.body.sent)}
		err = copyBatches(sink, src, st.buf, job, -1)
	}
	if err != nil {
		return err
	}
	if err := st.zw.Close(); err != nil {
		return fmt.Errorf("cannot end gzip stream: %w", err)
	}
	return st.cw.flush(lastChunk)
}

// copyBatches writes each read of src to sink until EOF. want is the number
// of bytes src must yield (-1: until EOF).
func copyBatches(sink gzipSink, src io.Reader, buf []byte, job *pumpJob, want int64) error {
	var got int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := sink.Write(buf[:n]); werr != nil {
				return werr
			}
			got += int64(n)
			job.moved += int64(n)
		}
		if err == io.EOF {
			if want >= 0 && got < want {
				return fmt.Errorf("cannot pump response body (%d of %d bytes): %w", got, want, io.ErrUnexpectedEOF)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}
