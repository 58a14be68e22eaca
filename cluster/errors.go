package cluster

import "errors"

var (
	// ErrBadState is a state from the leader that does not parse or does not match its
	// X-Data-Count or X-Data-Digest.
	ErrBadState = errors.New("cluster: bad state")
	// ErrStaleState is a state older than the one applied, or older than the staleness bound.
	ErrStaleState = errors.New("cluster: stale state")
	// ErrUnauthorized is the leader's 401 or 403: the cluster key is missing or wrong.
	ErrUnauthorized = errors.New("cluster: the leader refused the cluster key")
	// ErrBadKeyFile is a cluster key file that does not hold a clientId and a clientSecret.
	ErrBadKeyFile = errors.New("cluster: bad cluster key file")
)
