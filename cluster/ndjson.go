package cluster

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// line is one NDJSON line of the state, in Otoroshi's format: k the storage key, v the value
// (for "w":"string", the entity's JSON as a string), t the expiry in Unix milliseconds or -1,
// w the value's kind.
type line struct {
	K string          `json:"k"`
	V json.RawMessage `json:"v"`
	T int64           `json:"t"`
	W string          `json:"w"`
}

// Entry is one stored entity: its Otoroshi storage key and its JSON.
type Entry struct {
	Key string
	Raw []byte
}

// State is one encoded state, immutable once built: the NDJSON body, its gzip form, the count of
// lines and the SHA-256 of the body (lines with their newline), as X-Data-Count and X-Data-Digest
// announce them.
type State struct {
	Body   []byte
	Gzip   []byte
	Count  int
	Digest string
}

// EncodeState encodes entries as Otoroshi state lines, one per entry, every value a JSON string
// ("w":"string", no expiry), and compresses the result.
func EncodeState(entries []Entry) (*State, error) {
	var body bytes.Buffer
	for _, e := range entries {
		v, err := json.Marshal(string(e.Raw))
		if err != nil {
			return nil, fmt.Errorf("cannot encode state entry %q: %w", e.Key, err)
		}
		b, err := json.Marshal(line{K: e.Key, V: v, T: -1, W: "string"})
		if err != nil {
			return nil, fmt.Errorf("cannot encode state entry %q: %w", e.Key, err)
		}
		body.Write(b)
		body.WriteByte('\n')
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if _, err := zw.Write(body.Bytes()); err != nil {
		return nil, fmt.Errorf("cannot compress the state: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("cannot compress the state: %w", err)
	}
	sum := sha256.Sum256(body.Bytes())
	return &State{Body: body.Bytes(), Gzip: gz.Bytes(), Count: len(entries), Digest: hex.EncodeToString(sum[:])}, nil
}

// maxStateLine bounds one NDJSON line (Otoroshi's worker frames lines at 32 MiB): a leader that
// sends an endless line cannot exhaust a worker's memory.
const maxStateLine = 32 << 20

// DecodeState reads an NDJSON state, checks it against the announced count and digest (empty
// digest or negative count: not checked) and returns the entries by key, with their JSON. Only
// "string" values are kept (Torii stores every entity as a JSON string); other kinds are
// counted in the digest and skipped. A line that does not parse fails the whole state.
func DecodeState(r io.Reader, wantCount int, wantDigest string) (map[string][]byte, error) {
	h := sha256.New()
	sc := bufio.NewScanner(io.TeeReader(r, h))
	sc.Buffer(make([]byte, 64<<10), maxStateLine)
	out := make(map[string][]byte)
	n := 0
	for sc.Scan() {
		b := sc.Bytes()
		n++
		var l line
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrBadState, n, err)
		}
		if l.K == "" {
			return nil, fmt.Errorf("%w: line %d: no key (field k)", ErrBadState, n)
		}
		if l.W != "string" {
			continue
		}
		var s string
		if err := json.Unmarshal(l.V, &s); err != nil {
			return nil, fmt.Errorf("%w: line %d (%s): field v is not a string: %v", ErrBadState, n, l.K, err)
		}
		out[l.K] = []byte(s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: after line %d: %v", ErrBadState, n, err)
	}
	if wantCount >= 0 && n != wantCount {
		return nil, fmt.Errorf("%w: X-Data-Count says %d lines, the body has %d", ErrBadState, wantCount, n)
	}
	if wantDigest != "" {
		if got := hex.EncodeToString(h.Sum(nil)); got != wantDigest {
			return nil, fmt.Errorf("%w: X-Data-Digest is %s, the body's SHA-256 is %s", ErrBadState, wantDigest, got)
		}
	}
	return out, nil
}

// parseCount reads X-Data-Count (-1 when absent).
func parseCount(s string) (int, error) {
	if s == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: X-Data-Count %q is not a count", ErrBadState, s)
	}
	return n, nil
}
