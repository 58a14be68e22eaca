package admin

import (
	"net"
	"net/http"
	"time"

	"github.com/torii-gateway/torii/internal/jsonx"
	"go.etcd.io/bbolt"
)

// writeSet is what one write stores: bucket changes, buckets emptied first, and audit events.
type writeSet struct {
	reset   []string
	changes []change
	audits  [][]byte
	// staged: the buckets of reset are replaced by the import's staging buckets (stageImport),
	// not emptied.
	staged bool
	// committed run once the transaction committed, before the new state is made current.
	committed []func()
}

// commit stores ws in one bbolt transaction (fsynced before it returns).
func (ws *writeSet) commit(db *bbolt.DB) error {
	if !ws.staged {
		return commit(db, ws.reset, ws.changes, ws.audits)
	}
	return db.Update(func(tx *bbolt.Tx) error {
		if err := swapStaged(tx, ws.reset); err != nil {
			return err
		}
		return applyChanges(tx, ws.changes, ws.audits)
	})
}

func (ws *writeSet) put(st *state, k *kind, e *entity) {
	st.ents[k.id] = st.ents[k.id].Set(e.id, e)
	ws.changes = append(ws.changes, change{bucket: k.bucket, key: e.id, value: e.raw})
}

func (ws *writeSet) del(st *state, k *kind, id string) {
	st.ents[k.id] = st.ents[k.id].Delete(id)
	ws.changes = append(ws.changes, change{bucket: k.bucket, key: id})
}

func (ws *writeSet) setGlobal(st *state, e *entity) {
	st.global = e
	ws.changes = append(ws.changes, change{bucket: bucketGlobal, key: globalKey, value: e.raw})
}

// write is the one path of every change: under the writer mutex, fn edits a clone of the current
// state and says what to store; the clone is compiled (a failure is a 400 and nothing is stored),
// committed in one bbolt transaction, made current, then published.
func (s *Server) write(fn func(st *state, ws *writeSet) error) (*compiled, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t0 := time.Now()
	next := s.cur.Load().clone()
	ws := &writeSet{}
	if err := fn(next, ws); err != nil {
		return nil, err
	}
	publish, err := s.compiler.update(s.published.Load(), next, ws, s.version+1)
	if err != nil {
		return nil, compileError(err)
	}
	if err := s.applyExporters(next); err != nil {
		return nil, compileError(err)
	}
	t1 := time.Now()
	if err := ws.commit(s.db); err != nil {
		if rerr := s.applyExporters(s.cur.Load()); rerr != nil {
			s.log.Error("cannot restore the data exporters after a failed commit", "err", rerr)
		}
		return nil, err
	}
	for _, f := range ws.committed {
		f()
	}
	metricWrites.Inc()
	t2 := time.Now()
	s.version++
	s.cur.Store(next)
	s.publish(publish)
	if s.writePhases != nil {
		s.writePhases(t1.Sub(t0), t2.Sub(t1), time.Since(t2))
	}
	s.emitAudits(ws.audits)
	return publish, nil
}

// audit appends an Otoroshi-style AdminApiEvent to ws; before and after are redacted.
func (s *Server) audit(ws *writeSet, r *http.Request, action, entityID string, before, after any, msg string) {
	from := r.RemoteAddr
	if h, _, err := net.SplitHostPort(from); err == nil {
		from = h
	}
	now := time.Now().UnixMilli()
	ev := map[string]any{
		"@type":      "AuditEvent",
		"@id":        newUUID(),
		"@timestamp": now,
		"@product":   "torii",
		"audit":      "AdminApiEvent",
		"action":     action,
		"who":        who(r),
		"apiKey":     map[string]any{"clientId": who(r)},
		"from":       from,
		"ua":         r.UserAgent(),
		"message":    msg,
		"entityId":   entityID,
		"before":     redact(before),
		"after":      redact(after),
		"metadata":   map[string]any{"method": r.Method, "path": r.URL.Path},
	}
	raw, err := jsonx.Encode(ev)
	if err != nil {
		panic("BUG: audit event does not encode: " + err.Error())
	}
	ws.audits = append(ws.audits, raw)
	s.log.Info("admin write", "action", action, "entity", entityID, "who", who(r), "from", from)
}
