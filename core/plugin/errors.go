package plugin

import "errors"

var (
	// ErrConfig is wrapped by every error Compile returns for a bad plugin config.
	ErrConfig = errors.New("plugin: invalid config")
	// ErrExpression is wrapped by errors for an expression Torii does not support.
	ErrExpression = errors.New("plugin: unsupported expression")
	// ErrToken is returned when a JWT cannot be parsed or verified.
	ErrToken = errors.New("plugin: invalid token")
)
