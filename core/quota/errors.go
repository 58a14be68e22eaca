package quota

import "errors"

// ErrBadRecord is returned when a persisted counter record cannot be decoded.
var ErrBadRecord = errors.New("quota: malformed persisted record")

// ErrNoBucket is returned by NewPersister when the bucket name is empty.
var ErrNoBucket = errors.New("quota: empty bucket name")
