package event

import "errors"

var (
	// ErrBadConfig means a data exporter configuration is invalid; the wrapping error names the field.
	ErrBadConfig = errors.New("event: invalid data exporter config")
	// ErrUnsupportedExporter means the exporter type is known to Otoroshi but not run by Torii.
	ErrUnsupportedExporter = errors.New("event: unsupported exporter type")
	// ErrDelivery means a batch could not be delivered after every retry.
	ErrDelivery = errors.New("event: delivery failed")
	// ErrStopping means a delivery was abandoned because its exporter is stopping.
	ErrStopping = errors.New("event: exporter stopping")
	// ErrClosed means the hub was closed; exporters can no longer be set.
	ErrClosed = errors.New("event: hub closed")
)
