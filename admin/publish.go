package admin

import (
	"errors"
	"net/http"
)

// Snapshot is a placeholder until core.Snapshot lands.
type Snapshot struct {
	Version uint64
}

// Publisher receives every new snapshot; *core.Server satisfies it.
type Publisher interface {
	Publish(*Snapshot)
}

// compiler turns a state into a snapshot, keeping runtime registries across compiles.
type compiler struct{}

func newCompiler() compiler { return compiler{} }

// compile builds and validates the snapshot of st.
func (c *compiler) compile(st *state, version uint64) (*Snapshot, error) {
	return &Snapshot{Version: version}, nil
}

// publish hands snap to the publisher and marks the server ready.
func (s *Server) publish(snap *Snapshot) {
	if s.opts.Publisher != nil {
		s.opts.Publisher.Publish(snap)
	}
	s.lastErr.Store(nil)
	s.ready.Store(true)
	metricPublished.Inc()
}

// compileError turns a compile failure into a 400 that says why.
func compileError(err error) error {
	metricWriteRefused.Inc()
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	return &APIError{Status: http.StatusBadRequest, Code: "errors.invalid.configuration", Message: "the configuration would not compile: " + err.Error()}
}
