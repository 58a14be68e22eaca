package apikey

import "errors"

// ErrRequired is returned by Validate when a required field is empty.
var ErrRequired = errors.New("apikey: required field is empty")

// ErrBadChars is returned by Validate for an id or secret with spaces,
// control or non-ASCII characters.
var ErrBadChars = errors.New("apikey: value must be visible ASCII without spaces")

// ErrNegative is returned by Validate for a negative quota.
var ErrNegative = errors.New("apikey: quota must not be negative")

// ErrDuplicate is returned by Compile when two keys share a client id.
var ErrDuplicate = errors.New("apikey: duplicate clientId")

// ErrBadConfig is returned by ParsePolicy for a plugin config it cannot use.
var ErrBadConfig = errors.New("apikey: invalid plugin config")

// ErrBadPattern is returned by ParsePolicy for a path pattern that is not a
// valid regular expression.
var ErrBadPattern = errors.New("apikey: invalid path pattern")
