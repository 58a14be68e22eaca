package admin

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/torii-gateway/torii/internal/jsonx"
)

// scope restricts API keys to the ones authorized on one group or one route, for
// /api/groups/{id}/apikeys and /api/routes/{id}/apikeys, with the proxy's rules
// (apikey.Key.AuthorizedOn): a route scope holds the keys authorized on the route itself
// (route_<id>, service_<id>) or on one of its groups.
type scope struct {
	route  string   // route id, or "" for a group scope
	groups []string // the group, or the route's groups
}

func (sc *scope) matches(doc map[string]any) bool {
	if sc == nil {
		return true
	}
	for _, e := range keyEntities(doc) {
		var g string
		switch {
		case strings.HasPrefix(e, "route_"):
			if sc.route != "" && e[len("route_"):] == sc.route {
				return true
			}
			continue
		case strings.HasPrefix(e, "service_"):
			if sc.route != "" && e[len("service_"):] == sc.route {
				return true
			}
			continue
		case strings.HasPrefix(e, "group_"):
			g = e[len("group_"):]
		default:
			g = e // a bare entry is a group id
		}
		if slices.Contains(sc.groups, g) {
			return true
		}
	}
	return false
}

// entity is what a key created in the scope is authorized on: group_<id> or route_<id>.
func (sc *scope) entity() string {
	if sc.route != "" {
		return "route_" + sc.route
	}
	return "group_" + sc.groups[0]
}

// keyEntities returns what an API key document is authorized on: authorizedEntities, or for a
// key from before them (2018), its authorizedGroup.
func keyEntities(doc map[string]any) []string {
	var out []string
	ents, _ := doc["authorizedEntities"].([]any)
	for _, v := range ents {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		if g, _ := doc["authorizedGroup"].(string); g != "" {
			out = append(out, g)
		}
	}
	return out
}

// normalizeKey fills authorizedEntities of a 2018-style key that only has authorizedGroup
// (["group_<id>"]), as Otoroshi does when it reads one; authorizedGroup is kept.
func normalizeKey(doc map[string]any) {
	ents, _ := doc["authorizedEntities"].([]any)
	if g, _ := doc["authorizedGroup"].(string); len(ents) == 0 && g != "" {
		doc["authorizedEntities"] = []any{"group_" + g}
	}
}

// scopeOf resolves the scope of a scoped request (parent < 0: none); 404 when the parent is unknown.
func scopeOf(st *state, r *http.Request, parent kindID) (*scope, error) {
	if parent < 0 {
		return nil, nil
	}
	id := r.PathValue("id")
	e, ok := st.ents[parent].Get(id)
	if !ok {
		return nil, errNotFound(kinds[parent].label + " " + strconv.Quote(id))
	}
	if parent == kGroups {
		return &scope{groups: []string{id}}, nil
	}
	sc := &scope{route: id}
	gs, _ := e.doc()["groups"].([]any)
	for _, g := range gs {
		if s, ok := g.(string); ok {
			sc.groups = append(sc.groups, s)
		}
	}
	return sc, nil
}

// prepare fills defaults (and, on create, generated ids and secrets) and validates doc.
func prepare(k *kind, doc map[string]any, create bool) error {
	if create {
		k.generate(doc)
	}
	fillDefaults(doc, k.defaults)
	if k.id == kKeys {
		normalizeKey(doc)
	}
	c := &checker{}
	if k.enrich != nil {
		k.enrich(c, doc, time.Now())
	}
	k.check(c, doc)
	if len(c.errs) > 0 {
		return errValidation(c.errs)
	}
	return nil
}

func (s *Server) handleTemplate(k *kind) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, _ *http.Request) error {
		return s.writeValue(w, http.StatusOK, k.template())
	}
}

func (s *Server) handleList(k *kind, parent kindID) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		st := s.cur.Load()
		sc, err := scopeOf(st, r, parent)
		if err != nil {
			return err
		}
		q := r.URL.Query()
		page, err := positiveParam(q, "page", 1)
		if err != nil {
			return err
		}
		pageSize, err := positiveParam(q, "pageSize", 1<<31-1)
		if err != nil {
			return err
		}
		search := strings.ToLower(strings.TrimSpace(q.Get("search")))
		var page1 []*entity
		var total int
		rd := &reader{}
		defer rd.close()
		skip := int64(page-1) * int64(pageSize)
		if sc == nil && search == "" && !hasFilters(q) {
			// The whole kind, in id order: the page is found by rank, O(log n + pageSize)
			// however many entities there are.
			m := st.ents[k.id]
			total = m.Len()
			if skip < int64(total) {
				for _, e := range m.From(int(skip)) {
					if len(page1) == pageSize {
						break
					}
					page1 = append(page1, e)
				}
			}
		} else {
			decode := sc != nil || hasFilters(q)
			for _, e := range st.ents[k.id].All() {
				raw := rd.bytes(e)
				if raw == nil || search != "" && !searchHit(k, e.id, raw, search) || !mayMatch(raw, q) {
					continue
				}
				if decode {
					doc, err := jsonx.DecodeObject(raw)
					if err != nil || !sc.matches(doc) || !matchFilters(doc, q) {
						continue
					}
				}
				if int64(total) >= skip && len(page1) < pageSize {
					page1 = append(page1, e)
				}
				total++
			}
		}
		var buf bytes.Buffer
		buf.WriteByte('[')
		n := 0
		for _, e := range page1 {
			raw := rd.bytes(e)
			if raw == nil {
				continue // deleted since this state was published
			}
			if n > 0 {
				buf.WriteByte(',')
			}
			buf.Write(raw)
			n++
		}
		rd.close()
		buf.WriteByte(']')
		w.Header().Set("X-Count", strconv.Itoa(total))
		w.Header().Set("X-Page", strconv.Itoa(page))
		w.Header().Set("X-Page-Size", strconv.Itoa(pageSize))
		writeRead(w, r, buf.Bytes())
		return nil
	}
}

func positiveParam(q url.Values, name string, def int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errBadRequest("bad query parameter", FieldError{Field: name, Message: "must be a positive integer"})
	}
	return n, nil
}

// hasFilters reports whether q has a filter.<field> parameter.
func hasFilters(q url.Values) bool {
	for key := range q {
		if strings.HasPrefix(key, "filter.") {
			return true
		}
	}
	return false
}

// mayMatch is a cheap test on an entity's encoding before it is decoded: false when the value of
// a filter made of characters JSON never escapes does not appear in it. Listing a million API keys
// with a filter then decodes only the few that may match.
func mayMatch(raw []byte, q url.Values) bool {
	for key, vals := range q {
		if !strings.HasPrefix(key, "filter.") {
			continue
		}
		for _, v := range vals {
			if plainJSON(v) && !bytes.Contains(raw, []byte(v)) {
				return false
			}
		}
	}
	return true
}

// plainJSON reports whether s is written as itself in a JSON string.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// containsFold reports whether lower (ASCII lower case) appears in b, ignoring ASCII case.
func containsFold(b []byte, lower string) bool {
	n := len(lower)
	for i := 0; i+n <= len(b); i++ {
		j := 0
		for ; j < n; j++ {
			c := b[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// searchHit applies search=<text> (a Torii addition, for the UI; lower case): the text appears,
// ignoring ASCII case, in the entity's id, in the value of a "name" member ("clientName" for API
// keys), or, for a route, in its domains. It reads the stored encoding without decoding it (canonical JSON:
// members written as "key":value), so searching a million API keys scans their names, not their
// whole documents.
func searchHit(k *kind, id string, raw []byte, search string) bool {
	if containsFold([]byte(id), search) {
		return true
	}
	field := `"name":"`
	if k.id == kKeys {
		field = `"clientName":"` // keys have no name: scanning a whole key for one costs most of a search
	}
	for rest := raw; ; {
		i := bytes.Index(rest, []byte(field))
		if i < 0 {
			break
		}
		rest = rest[i+len(field):]
		end := bytes.IndexByte(rest, '"')
		for end > 0 && rest[end-1] == '\\' { // an escaped quote: look further
			next := bytes.IndexByte(rest[end+1:], '"')
			if next < 0 {
				end = -1
				break
			}
			end += 1 + next
		}
		if end < 0 {
			break
		}
		if containsFold(rest[:end], search) {
			return true
		}
		rest = rest[end:]
	}
	if k.id == kRoutes {
		if i := bytes.Index(raw, []byte(`"domains":[`)); i >= 0 {
			list := raw[i:]
			if end := bytes.IndexByte(list, ']'); end >= 0 && containsFold(list[len(`"domains":[`):end], search) {
				return true
			}
		}
	}
	return false
}

// matchFilters applies filter.<field>=<value> on top-level fields: a scalar field matches when its
// text equals the value, an array field when one of its scalar elements does.
func matchFilters(doc map[string]any, q url.Values) bool {
	for key, vals := range q {
		field, ok := strings.CutPrefix(key, "filter.")
		if !ok {
			continue
		}
		for _, want := range vals {
			if !fieldMatches(doc[field], want) {
				return false
			}
		}
	}
	return true
}

func fieldMatches(v any, want string) bool {
	if a, ok := v.([]any); ok {
		for _, e := range a {
			if s, ok := jsonx.Scalar(e); ok && s == want {
				return true
			}
		}
		return false
	}
	s, ok := jsonx.Scalar(v)
	return ok && s == want
}

// lookup finds the entity of a request in st, honouring the scope.
func lookup(st *state, r *http.Request, k *kind, idParam string, parent kindID) (*entity, error) {
	sc, err := scopeOf(st, r, parent)
	if err != nil {
		return nil, err
	}
	id := r.PathValue(idParam)
	e, ok := st.ents[k.id].Get(id)
	if !ok || !sc.matches(e.doc()) {
		return nil, errNotFound(k.label + " " + strconv.Quote(id))
	}
	return e, nil
}

func (s *Server) handleGet(k *kind, idParam string, parent kindID) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		e, err := lookup(s.cur.Load(), r, k, idParam, parent)
		if err != nil {
			return err
		}
		raw, etag := e.read()
		if raw == nil { // deleted since the state was loaded
			return errNotFound(k.label + " " + strconv.Quote(e.id))
		}
		w.Header().Set("ETag", etag)
		writeRead(w, r, raw)
		return nil
	}
}

func (s *Server) handleCreate(k *kind, parent kindID) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		body, err := s.readBody(w, r, s.opts.MaxBodyBytes, false)
		if err != nil {
			return err
		}
		doc, err := jsonx.DecodeObject(body)
		if err != nil {
			return errBadRequest(err.Error())
		}
		if err := prepare(k, doc, true); err != nil {
			return err
		}
		var created *entity
		_, err = s.write(func(st *state, ws *writeSet) error {
			sc, err := scopeOf(st, r, parent)
			if err != nil {
				return err
			}
			if sc != nil && !sc.matches(doc) {
				ents, _ := doc["authorizedEntities"].([]any)
				doc["authorizedEntities"] = append(ents, sc.entity())
			}
			id := doc[k.idField].(string)
			if st.ents[k.id].Has(id) {
				return errConflict(k.label + " " + strconv.Quote(id))
			}
			if created, err = newEntity(id, doc); err != nil {
				return err
			}
			ws.put(st, k, created)
			s.audit(ws, r, "CREATE_"+k.audit, id, nil, doc, "created "+k.label+" "+id)
			return nil
		})
		if err != nil {
			return err
		}
		h := w.Header()
		h.Set("ETag", created.etag)
		h.Set("Location", "/api/"+k.path+"/"+url.PathEscape(created.id))
		writeJSON(w, http.StatusCreated, created.raw)
		return nil
	}
}

// readUpdate reads the body of a PUT (a JSON object) or a PATCH (a merge patch
// or a JSON Patch array, decoded strictly), with the body size cap.
func (s *Server) readUpdate(w http.ResponseWriter, r *http.Request, patch bool) (any, error) {
	body, err := s.readBody(w, r, s.opts.MaxBodyBytes, patch)
	if err != nil {
		return nil, err
	}
	var in any
	if patch {
		in, err = jsonx.Decode(body)
	} else {
		in, err = jsonx.DecodeObject(body)
	}
	if err != nil {
		return nil, errBadRequest(err.Error())
	}
	return in, nil
}

// handleUpdate serves PUT (replace) and PATCH (merge patch or JSON Patch, see applyPatch).
func (s *Server) handleUpdate(k *kind, idParam string, parent kindID, patch bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		in, err := s.readUpdate(w, r, patch)
		if err != nil {
			return err
		}
		var updated *entity
		_, err = s.write(func(st *state, ws *writeSet) error {
			cur, err := lookup(st, r, k, idParam, parent)
			if err != nil {
				return err
			}
			if _, etag := cur.read(); !jsonx.IfMatch(r.Header.Get("If-Match"), etag, true) {
				return errPrecondition()
			}
			var doc map[string]any
			if patch {
				m, err := applyPatch(cur.doc(), in)
				if err != nil {
					return err
				}
				doc = m
			} else {
				doc = in.(map[string]any)
				if _, ok := doc[k.idField]; !ok {
					doc[k.idField] = cur.id
				}
			}
			if id, _ := doc[k.idField].(string); id != cur.id {
				return errValidation([]FieldError{{Field: k.idField, Message: "must equal the id in the path (" + strconv.Quote(cur.id) + ")"}})
			}
			if err := prepare(k, doc, false); err != nil {
				return err
			}
			if updated, err = newEntity(cur.id, doc); err != nil {
				return err
			}
			ws.put(st, k, updated)
			s.audit(ws, r, "UPDATE_"+k.audit, cur.id, cur.doc(), doc, "updated "+k.label+" "+cur.id)
			return nil
		})
		if err != nil {
			return err
		}
		w.Header().Set("ETag", updated.etag)
		writeJSON(w, http.StatusOK, updated.raw)
		return nil
	}
}

func (s *Server) handleDelete(k *kind, idParam string, parent kindID) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var undo func()
		_, err := s.write(func(st *state, ws *writeSet) error {
			cur, err := lookup(st, r, k, idParam, parent)
			if err != nil {
				return err
			}
			if _, etag := cur.read(); !jsonx.IfMatch(r.Header.Get("If-Match"), etag, true) {
				return errPrecondition()
			}
			ws.del(st, k, cur.id)
			if k.id == kKeys {
				undo = s.forgetQuota(ws, cur.id)
			}
			s.audit(ws, r, "DELETE_"+k.audit, cur.id, cur.doc(), nil, "deleted "+k.label+" "+cur.id)
			return nil
		})
		if err != nil {
			if undo != nil {
				undo()
			}
			return err
		}
		return s.writeValue(w, http.StatusOK, map[string]any{"deleted": true})
	}
}

func (s *Server) handleGlobalGet(w http.ResponseWriter, r *http.Request) error {
	st := s.cur.Load()
	if st.global != nil {
		w.Header().Set("ETag", st.global.etag)
		writeRead(w, r, st.global.raw)
		return nil
	}
	e, err := newEntity(globalKey, globalTemplate())
	if err != nil {
		return err
	}
	w.Header().Set("ETag", e.etag)
	writeRead(w, r, e.raw)
	return nil
}

func (s *Server) handleGlobalUpdate(patch bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		in, err := s.readUpdate(w, r, patch)
		if err != nil {
			return err
		}
		var updated *entity
		_, err = s.write(func(st *state, ws *writeSet) error {
			curDoc := st.globalDoc()
			curEnt, err := newEntity(globalKey, curDoc)
			if err != nil {
				return err
			}
			if !jsonx.IfMatch(r.Header.Get("If-Match"), curEnt.etag, true) {
				return errPrecondition()
			}
			doc, _ := in.(map[string]any)
			if patch {
				if doc, err = applyPatch(curDoc, in); err != nil {
					return err
				}
			}
			fillDefaults(doc, globalDefaults)
			c := &checker{}
			checkGlobal(c, doc)
			if len(c.errs) > 0 {
				return errValidation(c.errs)
			}
			if updated, err = newEntity(globalKey, doc); err != nil {
				return err
			}
			ws.setGlobal(st, updated)
			s.audit(ws, r, "UPDATE_GLOBAL_CONFIG", globalKey, curDoc, doc, "updated the global config")
			return nil
		})
		if err != nil {
			return err
		}
		w.Header().Set("ETag", updated.etag)
		writeJSON(w, http.StatusOK, updated.raw)
		return nil
	}
}

// applyPatch applies a PATCH body to doc: a JSON array is an RFC 6902 JSON Patch (Otoroshi's
// format), anything else an RFC 7396 merge patch. The result must be an object.
func applyPatch(doc map[string]any, patch any) (map[string]any, error) {
	var out any = jsonx.MergePatch(doc, patch)
	if ops, ok := patch.([]any); ok {
		var err error
		if out, err = jsonx.Patch(doc, ops); err != nil {
			return nil, errBadRequest("cannot apply the JSON patch: " + err.Error())
		}
	}
	m, ok := out.(map[string]any)
	if !ok {
		return nil, errBadRequest("the patch must produce a JSON object")
	}
	return m, nil
}
