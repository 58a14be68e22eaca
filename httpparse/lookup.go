package httpparse

// Lookup returns the value of the first header named name, compared without
// regard to ASCII case; name must be lower-case. buf must be the buffer r was
// parsed from; the Span points into it. Lookup does not allocate and is safe
// for concurrent use as long as r is not being modified.
func (r *Request) Lookup(buf []byte, name string) (Span, bool) {
	return lookup(buf, r.Headers, name)
}

// Lookup is Request.Lookup for a response.
func (r *Response) Lookup(buf []byte, name string) (Span, bool) {
	return lookup(buf, r.Headers, name)
}

func lookup(buf []byte, hdrs []Header, name string) (Span, bool) {
	for k := range hdrs {
		h := &hdrs[k]
		if int(h.Name.End-h.Name.Start) == len(name) && EqualFold(h.Name.Bytes(buf), name) {
			return h.Value, true
		}
	}
	return Span{}, false
}
