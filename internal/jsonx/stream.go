package jsonx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ObjectReader reads one JSON object from a stream member by member, so that a caller never
// holds the whole document: a member's value is decoded on its own (Value), or, for an array,
// one element at a time (Elements). Values are decoded as Decode decodes them (json.Number,
// duplicate keys refused, MaxDepth), with the same error messages and paths; a document read
// to its end with an ObjectReader is refused exactly when DecodeObject refuses it.
type ObjectReader struct {
	src  *errReader
	dec  *json.Decoder
	seen map[string]bool
	key  string
	// pending is a member whose value was not read yet (Next reads it before the next key).
	pending bool
}

// NewObjectReader reads the opening brace of the object of r. A document that is not an object
// is read to its end and refused as DecodeObject refuses it.
func NewObjectReader(r io.Reader) (*ObjectReader, error) {
	src := &errReader{r: r}
	dec := json.NewDecoder(src)
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("empty or truncated JSON")
		}
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if tok != json.Delim('{') {
		if _, err := decodeFrom(dec, tok, "", 0); err != nil {
			return nil, err
		}
		if err := atEnd(dec, src); err != nil {
			return nil, err
		}
		return nil, errors.New("expected a JSON object")
	}
	return &ObjectReader{src: src, dec: dec, seen: map[string]bool{}}, nil
}

// Next reads the next member's key (skipping the value of the previous member if it was not
// read); ok is false after the closing brace, once the stream was checked to hold nothing else.
func (o *ObjectReader) Next() (key string, ok bool, err error) {
	if o.pending {
		if _, err := o.Value(); err != nil {
			return "", false, err
		}
	}
	if !o.dec.More() {
		if _, err := o.dec.Token(); err != nil {
			return "", false, fmt.Errorf("invalid JSON: %w", err)
		}
		return "", false, atEnd(o.dec, o.src)
	}
	kt, err := o.dec.Token()
	if err != nil {
		return "", false, fmt.Errorf("invalid JSON: %w", err)
	}
	k, _ := kt.(string)
	if o.seen[k] {
		return "", false, fmt.Errorf("duplicate field %q", JoinPath("", k))
	}
	o.seen[k] = true
	o.key, o.pending = k, true
	return k, true, nil
}

// Value decodes the value of the member Next returned.
func (o *ObjectReader) Value() (any, error) {
	o.pending = false
	return decodeValue(o.dec, o.key, 1)
}

// Elements decodes the value of the member Next returned. When it is an array, each element is
// decoded and handed to each in turn (each may keep it), and isArray is true; otherwise the
// whole value is returned. An error of each stops the reading and is returned.
func (o *ObjectReader) Elements(each func(i int, v any) error) (value any, isArray bool, err error) {
	o.pending = false
	tok, err := o.dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, false, errors.New("empty or truncated JSON")
		}
		return nil, false, fmt.Errorf("invalid JSON: %w", err)
	}
	if tok != json.Delim('[') {
		v, err := decodeFrom(o.dec, tok, o.key, 1)
		return v, false, err
	}
	for i := 0; o.dec.More(); i++ {
		v, err := decodeValue(o.dec, o.key+"["+strconv.Itoa(i)+"]", 2)
		if err != nil {
			return nil, true, err
		}
		if err := each(i, v); err != nil {
			return nil, true, err
		}
	}
	if _, err := o.dec.Token(); err != nil {
		return nil, true, fmt.Errorf("invalid JSON: %w", err)
	}
	return nil, true, nil
}

// atEnd checks that dec holds nothing after the value it read.
func atEnd(dec *json.Decoder, src *errReader) error {
	if _, err := dec.Token(); err != io.EOF {
		if src.err != nil {
			return fmt.Errorf("cannot read: %w", src.err) // such as a body over its limit
		}
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// errReader remembers the error of its reader other than io.EOF.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}
