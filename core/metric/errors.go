package metric

import "errors"

// ErrUnknownRoute means live statistics were asked for a route id that has no metrics.
var ErrUnknownRoute = errors.New("metric: unknown route")
