package privateapp

import "errors"

// ErrBadCookie: a session cookie value is not "<id>.<mac>" with a valid MAC.
var ErrBadCookie = errors.New("privateapp: bad session cookie")
