package wire

import "errors"

// ErrMalformed means the response does not follow HTTP/1.1 syntax.
var ErrMalformed = errors.New("wire: malformed response")

// ErrHeadTooLarge means the status line and headers do not fit the buffer.
var ErrHeadTooLarge = errors.New("wire: response head larger than the read buffer")

// ErrUnsupported means a valid response uses a framing this reader does not
// handle (a transfer coding other than chunked).
var ErrUnsupported = errors.New("wire: unsupported response framing")
