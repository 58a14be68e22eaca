package route

import "errors"

// ErrInvalidRoute is wrapped by every validation error Compile returns for a single route field.
var ErrInvalidRoute = errors.New("route: invalid route")

// ErrConflict is wrapped when two enabled routes claim the same domain, path and matchers.
var ErrConflict = errors.New("route: conflicting routes")

// ErrDecode is wrapped by DecodeRoutes when the input is not a JSON array of routes.
var ErrDecode = errors.New("route: cannot decode routes")

// ErrUnresolvable is wrapped when a target hostname does not resolve at compile time.
var ErrUnresolvable = errors.New("route: target hostname does not resolve")
