package load

import "errors"

// ErrConfig means the Config cannot describe a run (missing target, bad URL,
// conflicting options).
var ErrConfig = errors.New("load: invalid configuration")
