package admin

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"go.etcd.io/bbolt"
)

// Top-level fields Torii imports, per entity kind (everything else with a value that configures
// something is listed in the report as unsupported, and still kept in the stored document).
var (
	routeFields = fieldSet("id", "name", "description", "tags", "metadata", "_loc", "enabled", "groups",
		"frontend", "backend", "plugins")
	groupFields = fieldSet("id", "name", "description", "tags", "metadata", "_loc")
	keyFields   = fieldSet("clientId", "clientSecret", "clientName", "description", "authorizedEntities",
		"authorizedGroup", "enabled", "readOnly", "allowClientIdOnly", "throttlingQuota", "dailyQuota",
		"monthlyQuota", "validUntil", "rotation", "tags", "metadata", "_loc")
	configFields = fieldSet("maintenanceMode", "throttlingQuota", "perIpThrottlingQuota", "ipFiltering",
		"trustXForwarded", "underscoresInHeaders", "limitConcurrentRequests", "maxConcurrentRequests", "tags", "metadata",
		// Identity and cosmetics that configure no behaviour.
		"otoroshiId", "lines", "templates", "enableEmbeddedMetrics", "streamEntityOnly", "autoLinkToDefaultGroup",
		"maxLogsSize", "middleFingers", "apiReadOnly")
	// exportHeader are the export's own fields, not entities.
	exportHeader = fieldSet("label", "dateRaw", "date", "stats", "appConfig")
)

// Fields Torii implements inside a route's frontend, backend, targets and client config.
var (
	frontendFields = fieldSet("domains", "strip_path", "exact", "headers", "query", "methods")
	backendFields  = fieldSet("targets", "root", "rewrite", "load_balancing", "client", "health_check")
	targetFields   = fieldSet("id", "hostname", "port", "tls", "weight", "protocol", "backup")
	clientFields   = fieldSet("retries", "max_errors", "retry_initial_delay", "backoff_factor", "connection_timeout",
		"idle_timeout", "call_timeout", "call_and_stream_timeout", "global_timeout", "sample_interval")
)

// routeNestedUnsupported lists the fields inside a route's frontend, backend, targets and client
// config that configure something Torii does not implement.
func routeNestedUnsupported(doc map[string]any) []string {
	var out []string
	scan := func(path string, m map[string]any, known map[string]bool) {
		for k, v := range m {
			if known[k] || isInert(v) {
				continue
			}
			if k == "predicate" { // Otoroshi's default target predicate matches everything
				if p, _ := v.(map[string]any); p["type"] == "AlwaysMatch" {
					continue
				}
			}
			out = append(out, path+"."+k)
		}
	}
	fe, _ := doc["frontend"].(map[string]any)
	scan("frontend", fe, frontendFields)
	be, _ := doc["backend"].(map[string]any)
	scan("backend", be, backendFields)
	targets, _ := be["targets"].([]any)
	for i, t := range targets {
		tm, _ := t.(map[string]any)
		scan("backend.targets["+strconv.Itoa(i)+"]", tm, targetFields)
	}
	cl, _ := be["client"].(map[string]any)
	scan("backend.client", cl, clientFields)
	sort.Strings(out)
	return out
}

func fieldSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// ImportReport says what an import stored and what it could not carry over.
type ImportReport struct {
	Done bool `json:"done"`
	// Imported counts the entities stored, by export array ("serviceDescriptors" counts the
	// descriptors converted into routes; "config" is 1 when a global config was imported).
	Imported map[string]int `json:"imported"`
	// Unsupported lists each field that has a value Torii does not implement, by entity.
	Unsupported []UnsupportedField `json:"unsupported"`
	// Ignored counts the entities of kinds Torii does not manage, which were not imported.
	Ignored map[string]int `json:"ignored"`
	// Converted lists the changes the import made to carry an entity over.
	Converted []string `json:"converted,omitempty"`
}

// UnsupportedField is one field of one imported entity that Torii does not implement. The value is
// kept in the stored document but has no effect.
type UnsupportedField struct {
	Entity  string `json:"entity"` // "<export array>/<id>", or "config"
	Field   string `json:"field"`
	Message string `json:"message,omitempty"` // why, when the compiler said more than "unsupported"
}

// buildImport turns an Otoroshi export into a complete state and its report. It is all or
// nothing: any invalid entity makes it fail with the fields named by array index.
func buildImport(doc map[string]any) (*state, *ImportReport, error) {
	st := newState()
	rep := &ImportReport{Done: true, Imported: map[string]int{}, Ignored: map[string]int{}, Unsupported: []UnsupportedField{}}
	c := &checker{}
	unsupported := func(entity string, doc map[string]any, known map[string]bool) {
		for k, v := range doc {
			if !known[k] && !isInert(v) {
				rep.Unsupported = append(rep.Unsupported, UnsupportedField{Entity: entity, Field: k})
			}
		}
	}
	add := func(array string, k *kind, i int, v any, known map[string]bool) {
		path := array + "[" + strconv.Itoa(i) + "]"
		d, ok := v.(map[string]any)
		if !ok {
			c.add(path, "must be an object")
			return
		}
		fillDefaults(d, k.defaults)
		sub := &checker{}
		k.check(sub, d)
		for _, fe := range sub.errs {
			c.add(path+"."+fe.Field, "%s", fe.Message)
		}
		if len(sub.errs) > 0 {
			return
		}
		id := d[k.idField].(string)
		if _, dup := st.ents[k.id][id]; dup {
			c.add(path+"."+k.idField, "duplicate id %q", id)
			return
		}
		e, err := newEntity(id, d)
		if err != nil {
			c.add(path, "%s", err.Error())
			return
		}
		st.ents[k.id][id] = e
		rep.Imported[array]++
		if known != nil {
			unsupported(array+"/"+id, d, known)
		}
		if k.id == kRoutes {
			for _, f := range routeNestedUnsupported(d) {
				rep.Unsupported = append(rep.Unsupported, UnsupportedField{Entity: array + "/" + id, Field: f})
			}
		}
	}
	referenced := map[string]bool{} // stored backends that routes reference
	routesList, _ := doc["routes"].([]any)
	for _, r := range routesList {
		rm, _ := r.(map[string]any)
		if ref, ok := rm["backend_ref"].(string); ok {
			referenced[ref] = true
		}
	}
	for name, v := range doc {
		list, isList := v.([]any)
		switch name {
		case "routes":
			backends := storedBackends(doc["backends"])
			for i, e := range asList(c, name, v) {
				if inlineBackendRef(e, backends) {
					id, _ := e.(map[string]any)["id"].(string)
					rep.Converted = append(rep.Converted, "routes/"+id+": backend_ref inlined from backends")
				}
				add(name, kinds[kRoutes], i, e, routeFields)
			}
		case "serviceGroups":
			for i, e := range asList(c, name, v) {
				add(name, kinds[kGroups], i, e, groupFields)
			}
		case "apiKeys":
			for i, e := range asList(c, name, v) {
				add(name, kinds[kKeys], i, e, keyFields)
			}
		case "dataExporters":
			for i, e := range asList(c, name, v) {
				add(name, kinds[kExporters], i, e, nil)
			}
		case "config":
			cfg, ok := v.(map[string]any)
			if v == nil {
				continue
			}
			if !ok {
				c.add("config", "must be an object")
				continue
			}
			fillDefaults(cfg, globalDefaults)
			sub := &checker{}
			checkGlobal(sub, cfg)
			for _, fe := range sub.errs {
				c.add("config."+fe.Field, "%s", fe.Message)
			}
			e, err := newEntity(globalKey, cfg)
			if err != nil {
				c.add("config", "%s", err.Error())
				continue
			}
			st.global = e
			rep.Imported["config"] = 1
			unsupported("config", cfg, configFields)
		case "serviceDescriptors":
			// Converted after the routes, so that a route with the same id is a reported conflict.
		default:
			switch {
			case exportHeader[name]:
			case name == "backends" && isList:
				// Inlined into the routes that reference them (backend_ref); the others are
				// not imported.
				for id := range storedBackends(v) {
					if !referenced[id] {
						rep.Ignored[name]++
					}
				}
			case isList:
				if len(list) > 0 {
					rep.Ignored[name] = len(list)
				}
			case !isInert(v):
				rep.Unsupported = append(rep.Unsupported, UnsupportedField{Entity: "export", Field: name})
			}
		}
	}
	if v, ok := doc["serviceDescriptors"]; ok {
		for i, e := range asList(c, "serviceDescriptors", v) {
			sd, ok := e.(map[string]any)
			if !ok {
				c.add("serviceDescriptors["+strconv.Itoa(i)+"]", "must be an object")
				continue
			}
			id, _ := sd["id"].(string)
			if id == "" {
				c.add("serviceDescriptors["+strconv.Itoa(i)+"].id", "is required")
				continue
			}
			route, missing := descriptorToRoute(sd)
			before := len(c.errs)
			add("serviceDescriptors", kinds[kRoutes], i, route, nil)
			if len(c.errs) > before {
				continue
			}
			for _, f := range missing {
				rep.Unsupported = append(rep.Unsupported, UnsupportedField{Entity: "serviceDescriptors/" + id, Field: f})
			}
		}
	}
	if len(c.errs) > 0 {
		sort.Slice(c.errs, func(i, j int) bool { return c.errs[i].Field < c.errs[j].Field })
		return nil, nil, &APIError{Status: http.StatusBadRequest, Code: "errors.invalid.import",
			Message: "the export is not valid; nothing was imported", Fields: c.errs}
	}
	sort.Slice(rep.Unsupported, func(i, j int) bool {
		a, b := rep.Unsupported[i], rep.Unsupported[j]
		if a.Entity != b.Entity {
			return a.Entity < b.Entity
		}
		return a.Field < b.Field
	})
	return st, rep, nil
}

func asList(c *checker, name string, v any) []any {
	if v == nil {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		c.add(name, "must be an array")
	}
	if len(l) > maxImportEntities {
		c.add(name, "holds %d entities, at most %d", len(l), maxImportEntities)
		return nil
	}
	return l
}

// storedBackends indexes an export's "backends" (Otoroshi StoredNgBackend: {id, backend: {...}}).
func storedBackends(v any) map[string]map[string]any {
	out := map[string]map[string]any{}
	list, _ := v.([]any)
	for _, b := range list {
		bm, _ := b.(map[string]any)
		id, _ := bm["id"].(string)
		if inner, ok := bm["backend"].(map[string]any); ok && id != "" {
			out[id] = inner
		}
	}
	return out
}

// inlineBackendRef replaces the backend of a route that references a stored backend (backend_ref)
// by a copy of that backend, since Torii routes carry their backend inline. It reports whether it
// did.
func inlineBackendRef(route any, backends map[string]map[string]any) bool {
	rm, _ := route.(map[string]any)
	ref, _ := rm["backend_ref"].(string)
	b, ok := backends[ref]
	if ref == "" || !ok {
		return false
	}
	rm["backend"] = deepCopy(b)
	delete(rm, "backend_ref")
	return true
}

// handleImport replaces the whole configuration with an Otoroshi export, all or nothing.
func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r, s.opts.MaxBodyBytes*importBodyFactor, false)
	if err != nil {
		return err
	}
	doc, err := decodeObject(body)
	if err != nil {
		return errBadRequest(err.Error())
	}
	imported, rep, err := buildImport(doc)
	if err != nil {
		return err
	}
	var undos []func()
	c, err := s.write(func(st *state, ws *writeSet) error {
		if !ifMatch(r.Header.Get("If-Match"), stateETag(st), true) {
			return errPrecondition()
		}
		for id := range st.ents[kKeys] {
			if _, kept := imported.ents[kKeys][id]; !kept {
				undos = append(undos, s.forgetQuota(ws, id))
			}
		}
		ws.reset = []string{bucketRoutes, bucketGroups, bucketKeys, bucketGlobal}
		st.ents = imported.ents
		st.global = imported.global
		for _, k := range kinds {
			for _, e := range imported.sorted(k.id) {
				ws.changes = append(ws.changes, change{bucket: k.bucket, key: e.id, value: e.raw})
			}
		}
		if imported.global != nil {
			ws.changes = append(ws.changes, change{bucket: bucketGlobal, key: globalKey, value: imported.global.raw})
		}
		s.audit(ws, r, "FULL_OTOROSHI_IMPORT", "", nil, map[string]any{"imported": rep.Imported},
			"imported a whole configuration")
		return nil
	})
	if err != nil {
		for _, undo := range undos {
			undo()
		}
		return err
	}
	for _, wa := range c.routes.Warnings() {
		rep.Unsupported = append(rep.Unsupported, UnsupportedField{Entity: "routes/" + wa.RouteID, Field: wa.Field, Message: wa.Message})
	}
	return s.writeValue(w, http.StatusOK, rep)
}

// stateETag identifies the whole configuration: the export without its dates.
func stateETag(st *state) string {
	raw, err := encodeJSON(exportDoc(st, time.Time{}))
	if err != nil {
		panic("BUG: state does not encode: " + err.Error())
	}
	return etagOf(raw)
}

// seed imports opts.Seed into an empty database at first start, through the same path as
// POST /api/otoroshi.json (validate, compile, one transaction, an audit event).
func (s *Server) seed(cur *state, data []byte) (*state, error) {
	v, err := decodeStrict(data)
	if err != nil {
		return nil, fmt.Errorf("cannot decode seed configuration: %w", err)
	}
	doc, ok := v.(map[string]any)
	if list, isList := v.([]any); isList {
		doc, ok = map[string]any{"routes": list}, true
	}
	if !ok {
		return nil, fmt.Errorf("cannot use seed configuration: %w", ErrBadSeed)
	}
	next, rep, err := buildImport(doc)
	if err != nil {
		return nil, fmt.Errorf("cannot import seed configuration: %w", err)
	}
	if _, err := s.compiler.compile(next, 1); err != nil {
		return nil, fmt.Errorf("cannot compile seed configuration: %w", err)
	}
	ws := &writeSet{reset: []string{bucketRoutes, bucketGroups, bucketKeys, bucketGlobal}}
	for _, k := range kinds {
		for _, e := range next.sorted(k.id) {
			ws.changes = append(ws.changes, change{bucket: k.bucket, key: e.id, value: e.raw})
		}
	}
	if next.global != nil {
		ws.changes = append(ws.changes, change{bucket: bucketGlobal, key: globalKey, value: next.global.raw})
	} else {
		next.global = cur.global
	}
	ev, err := encodeJSON(map[string]any{"@type": "AuditEvent", "@id": newUUID(), "@timestamp": time.Now().UnixMilli(),
		"@product": "torii", "audit": "AdminApiEvent", "action": "SEED_IMPORT", "who": "torii", "from": "",
		"message": "imported the seed configuration at first start", "after": map[string]any{"imported": rep.Imported}})
	if err != nil {
		return nil, err
	}
	ws.audits = append(ws.audits, ev)
	ws.changes = append(ws.changes, change{bucket: bucketMeta, key: metaSeeded, value: []byte("1")})
	if err := commit(s.db, ws.reset, ws.changes, ws.audits); err != nil {
		return nil, err
	}
	s.log.Info("imported the seed configuration", "routes", len(next.ents[kRoutes]), "groups", len(next.ents[kGroups]), "apikeys", len(next.ents[kKeys]))
	return next, nil
}

// seeded reports whether a seed was ever imported into db.
func seeded(db *bbolt.DB) bool {
	done := false
	_ = db.View(func(tx *bbolt.Tx) error {
		done = tx.Bucket([]byte(bucketMeta)).Get([]byte(metaSeeded)) != nil
		return nil
	})
	return done
}
