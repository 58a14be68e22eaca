package core

import "errors"

var (
	// ErrNoListen is returned by NewServer when Config.Listen is empty.
	ErrNoListen = errors.New("core: no listen address")
	// ErrReusePortNeedsPort is returned by NewServer for SO_REUSEPORT on port 0:
	// every loop would bind a different ephemeral port.
	ErrReusePortNeedsPort = errors.New("core: reuse-port needs an explicit port")
	// ErrServerClosed is returned by Run after Shutdown, and by a second Run.
	ErrServerClosed = errors.New("core: server closed")
	// ErrEngineStopped is returned by Run when the engine stopped without
	// Shutdown or a done context asking it to: a failure.
	ErrEngineStopped = errors.New("core: proxy engine stopped unexpectedly")
	// errBodyTooLarge stops a pump whose body went over its bound.
	errBodyTooLarge = errors.New("core: body over its length limit")
	// ErrNotStarted is returned by Shutdown before Run has started the engine.
	ErrNotStarted = errors.New("core: server not started")
	// ErrNoTarget is returned when a quick-mode target is not a usable http:// URL.
	ErrNoTarget = errors.New("core: invalid target")
	// ErrEventLoops is returned by NewServer when Config.Events has fewer
	// rings than the server has loops (event.Options.Loops < Config.Loops).
	ErrEventLoops = errors.New("core: event hub has fewer rings than loops")
)
