package admin

import (
	"bytes"
	"errors"
	"mime"
	"net/http"

	"github.com/torii-gateway/torii/internal/jsonx"
)

// Otoroshi's /apis/<group>/<version>/<plural>/_bulk takes one entity per line (application/
// x-ndjson; PATCH lines are {"id": ..., "patch": <JSON Patch>}, DELETE lines name the id) and
// answers 200 with one ndjson line per entity: {"status":201,"created":true,"id":...,"id_field":...}
// or {"status":400,"error":"bad_entity","error_description":...,"entity":...}. Each line is its own
// write (validated, stored, published), as in Otoroshi; a bad line does not stop the others.
// _count answers {"count": n}.

// bulkOp is what a _bulk method does to one entity.
type bulkOp int

const (
	bulkCreate bulkOp = iota
	bulkUpdate
	bulkPatch
	bulkDelete
)

func (s *Server) handleCount(k *kind) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, _ *http.Request) error {
		return s.writeValue(w, http.StatusOK, map[string]any{"count": s.cur.Load().ents[k.id].Len()})
	}
}

func (s *Server) handleBulk(k *kind, op bulkOp) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-ndjson" {
			return &APIError{Status: http.StatusBadRequest, Code: "bad_content_type", Message: "Unsupported content type (application/x-ndjson expected)"}
		}
		r.Header.Set("Content-Type", "application/json") // for readBody's check; the body is ndjson
		body, err := s.readBody(w, r, s.opts.MaxBodyBytes*importBodyFactor, false)
		if err != nil {
			return err
		}
		var out bytes.Buffer
		for line := range bytes.Lines(body) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			res := s.bulkOne(r, k, op, line)
			raw, err := jsonx.Encode(res)
			if err != nil {
				return err
			}
			out.Write(raw)
			out.WriteByte('\n')
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out.Bytes())
		return nil
	}
}

// bulkOne applies op to the entity of one line and returns its result line.
func (s *Server) bulkOne(r *http.Request, k *kind, op bulkOp, line []byte) map[string]any {
	doc, err := jsonx.DecodeObject(line)
	if err != nil {
		return map[string]any{"status": http.StatusBadRequest, "error": "bad_entity", "error_description": err.Error(), "entity": string(line)}
	}
	id, _ := doc[k.idField].(string)
	if op == bulkPatch || op == bulkDelete {
		if id == "" {
			id, _ = doc["id"].(string)
		}
	}
	var undo func()
	_, err = s.write(func(st *state, ws *writeSet) error {
		cur, exists := st.ents[k.id].Get(id)
		switch op {
		case bulkCreate:
			if err := prepare(k, doc, true); err != nil {
				return err
			}
			id = doc[k.idField].(string)
			if st.ents[k.id].Has(id) {
				return errors.New("entity already exists")
			}
		case bulkUpdate, bulkPatch:
			if !exists {
				return errors.New("entity not found")
			}
			if op == bulkPatch {
				m, err := applyPatch(cur.doc(), doc["patch"])
				if err != nil {
					return err
				}
				doc = m
			}
			if got, _ := doc[k.idField].(string); got != id {
				return errValidation([]FieldError{{Field: k.idField, Message: "must not change"}})
			}
			if err := prepare(k, doc, false); err != nil {
				return err
			}
		case bulkDelete:
			if !exists {
				return errors.New("entity not found")
			}
			ws.del(st, k, id)
			if k.id == kKeys {
				undo = s.forgetQuota(ws, id)
			}
			s.audit(ws, r, "BULK_DELETE_"+k.audit, id, cur.doc(), nil, "bulk deleted "+k.label+" "+id)
			return nil
		}
		e, err := newEntity(id, doc)
		if err != nil {
			return err
		}
		var before map[string]any
		if exists {
			before = cur.doc()
		}
		ws.put(st, k, e)
		s.audit(ws, r, "BULK_UPDATE_"+k.audit, id, before, doc, "bulk wrote "+k.label+" "+id)
		return nil
	})
	if err != nil {
		if undo != nil {
			undo()
		}
		msg := any(err.Error())
		var ae *APIError
		if errors.As(err, &ae) {
			msg = map[string]any{"error": ae.Code, "error_description": ae.Message, "fields": ae.Fields}
		}
		return map[string]any{"status": http.StatusBadRequest, "error": "bad_entity", "error_description": msg, "entity": doc}
	}
	res := map[string]any{"id": id, "id_field": k.idField}
	switch op {
	case bulkCreate:
		res["status"], res["created"] = http.StatusCreated, true
	case bulkDelete:
		res["status"], res["deleted"] = http.StatusOK, true
	default:
		res["status"], res["updated"] = http.StatusOK, true
	}
	return res
}
