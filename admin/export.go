package admin

import (
	"bufio"
	"io"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/torii-gateway/torii/otoroshi"

	"github.com/torii-gateway/torii/internal/jsonx"
)

// writeExport writes the Otoroshi export of st (every kind, the global config and the extra
// fields of the last import) to w, without building it: the members in key order, each entity list streamed from the stored encodings
// (which are the canonical encodings of the documents). A million API keys are never decoded and
// the response is never held whole in memory.
func writeExport(w io.Writer, st *state, now time.Time) error {
	var extra map[string]any
	if st.extra != nil {
		extra = st.extra.doc()
	}
	doc := otoroshi.Export(nil, st.globalDoc(), extra, now) // the lists empty: streamed below
	byArray := make(map[string]kindID, len(kinds))
	for _, k := range kinds {
		byArray[k.array] = k.id
	}
	names := slices.Sorted(maps.Keys(doc))
	// One read transaction for the cold entities (see entity), for as long as the export is
	// written: a writer that must grow the file waits for it.
	rd := &reader{}
	defer rd.close()
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteByte('{')
	for i, name := range names {
		if i > 0 {
			bw.WriteByte(',')
		}
		key, err := jsonx.Encode(name)
		if err != nil {
			return err
		}
		bw.Write(key)
		bw.WriteByte(':')
		if id, ok := byArray[name]; ok {
			bw.WriteByte('[')
			n := 0
			for _, e := range st.ents[id].All() {
				raw := rd.bytes(e)
				if raw == nil {
					continue // deleted since this state was published
				}
				if n > 0 {
					bw.WriteByte(',')
				}
				bw.Write(raw)
				n++
			}
			bw.WriteByte(']')
			continue
		}
		v, err := jsonx.Encode(doc[name])
		if err != nil {
			return err
		}
		bw.Write(v)
	}
	bw.WriteByte('}')
	return bw.Flush()
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) error {
	st := s.cur.Load()
	// An export is a read, but Otoroshi audits it (it holds every secret).
	s.mu.Lock()
	ws := &writeSet{}
	s.audit(ws, r, "FULL_OTOROSHI_EXPORT", "", nil, nil, "exported the whole configuration")
	err := commit(s.db, nil, nil, ws.audits)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.emitAudits(ws.audits)
	w.Header().Set("ETag", stateETag(st))
	w.Header().Set("Content-Disposition", `attachment; filename="otoroshi.json"`)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if err := writeExport(w, st, time.Now()); err != nil {
		// The status is sent: the client sees a truncated body.
		s.log.Error("export interrupted", "err", err)
	}
	return nil
}
