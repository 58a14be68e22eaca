package otoroshi

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/torii-gateway/torii/internal/jsonx"
)

// Top-level fields Torii implements, per entity kind (everything else with a value that configures
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
		"adminApiKeysGroup", // Torii's: the service group whose API keys its admin API accepts
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
	targetFields   = fieldSet("id", "hostname", "port", "tls", "weight", "protocol", "backup", "ip_address", "tls_config")
	clientFields   = fieldSet("retries", "max_errors", "retry_initial_delay", "backoff_factor", "connection_timeout",
		"idle_timeout", "call_timeout", "call_and_stream_timeout", "global_timeout", "sample_interval")
)

func fieldSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Report says what an import stored and what it could not carry over.
type Report struct {
	Done bool `json:"done"`
	// Imported counts the entities stored, by export array ("serviceDescriptors" counts the
	// descriptors converted into routes; "config" is 1 when a global config was imported).
	Imported map[string]int `json:"imported"`
	// Unsupported lists each field that has a value Torii does not implement, by entity.
	Unsupported []UnsupportedField `json:"unsupported"`
	// Kept counts, by export array, the entities of kinds Torii stores, lists and exports back
	// but does not enforce (certificates, authConfigs, tenants...).
	Kept map[string]int `json:"kept"`
	// Ignored counts the entities that were not imported (none today: every array is kept).
	Ignored map[string]int `json:"ignored"`
	// Converted lists the changes the import made to carry an entity over.
	Converted []string `json:"converted,omitempty"`
	// Warnings name what imported but will not work as in Otoroshi until something changes: a
	// target host name that does not resolve from here, an admin API key that is refused on
	// Torii's admin API.
	Warnings []UnsupportedField `json:"warnings"`
	// Notes state differences of semantics that concern the imported entities.
	Notes []string `json:"notes,omitempty"`
}

// UnsupportedField is one field of one imported entity that Torii does not implement. The value is
// kept in the stored document but has no effect.
type UnsupportedField struct {
	Entity  string `json:"entity"` // "<export array>/<id>", or "config"
	Field   string `json:"field"`
	Message string `json:"message,omitempty"` // why, when the compiler said more than "unsupported"
}

// Sort orders the unsupported fields and the warnings by entity, then field.
func (r *Report) Sort() {
	for _, l := range [][]UnsupportedField{r.Unsupported, r.Warnings} {
		sort.Slice(l, func(i, j int) bool {
			a, b := l[i], l[j]
			if a.Entity != b.Entity {
				return a.Entity < b.Entity
			}
			return a.Field < b.Field
		})
	}
}

// Entity is one entity read from an export, ready for the caller's validation.
type Entity struct {
	Array string // the export array it came from: "routes", "certificates", ...
	Index int    // its index in that array
	Doc   map[string]any
}

// Path is the entity's place in the export, as field errors name it: "routes[3]".
func (e Entity) Path() string { return e.Array + "[" + strconv.Itoa(e.Index) + "]" }

// ID returns the entity's id (the value of its kind's id field), or "".
func (e Entity) ID() string {
	k, _ := KindOf(e.Array)
	id, _ := e.Doc[k.IDField].(string)
	return id
}

// Problem is one structural error of an export (a list that is not a list, an entity without
// an id); Field is a path into the export.
type Problem struct {
	Field   string
	Message string
}

// Import is an export read into entities, array by array in the order of Kinds, plus the global
// config and the top-level fields that are neither (kept as they are).
type Import struct {
	Entities []Entity
	Config   map[string]any // nil when the export has none
	// Extra holds the export's other top-level fields ("extensions", unknown arrays), which are
	// kept and written back by Export.
	Extra map[string]any
	// Report has Imported (counting every entity read), Kept, Unsupported and Converted filled.
	Report   *Report
	Problems []Problem
}

// Read reads an Otoroshi export. It never fails: what cannot be read is listed in Problems, and a
// caller stores nothing when there is any. An array longer than maxEntities is a problem. The
// documents in the result are doc's own (backend references are inlined in place).
func Read(doc map[string]any, maxEntities int) *Import {
	rd := NewReader(maxEntities)
	rd.Backends(doc["backends"])
	for _, k := range Kinds {
		v := doc[k.Array]
		if v == nil {
			continue
		}
		l, ok := v.([]any)
		if !ok {
			rd.NotArray(k.Array)
			continue
		}
		if len(l) > maxEntities {
			rd.TooMany(k.Array, len(l))
			continue
		}
		for i, v := range l {
			if e, ok := rd.Entity(k.Array, i, v); ok {
				rd.im.Entities = append(rd.im.Entities, e)
			}
		}
	}
	for name, v := range doc {
		rd.TopLevel(name, v)
	}
	return rd.Finish()
}

// Reader reads an export one entity at a time, whatever the order of its arrays: Read hands it
// a decoded document, the admin API's streaming import the elements of a request body as they
// are decoded, so that the whole document is never held. Its Import has no Entities: the caller
// keeps those Entity returns.
type Reader struct {
	im  *Import
	max int
	// backends are the export's stored backends by id, for the routes' backend_ref.
	backends map[string]map[string]any
	// converted are Report.Converted with the place of their entity, ordered by Finish as Read
	// orders them (by array in the order of Kinds, then index).
	converted []converted
	rank      map[string]int
}

type converted struct {
	rank, index int
	msg         string
}

// NewReader returns a Reader of an export whose arrays hold at most maxEntities entities.
func NewReader(maxEntities int) *Reader {
	rd := &Reader{max: maxEntities, backends: map[string]map[string]any{}, rank: map[string]int{},
		im: &Import{Extra: map[string]any{}, Report: &Report{Done: true, Imported: map[string]int{},
			Kept: map[string]int{}, Ignored: map[string]int{}, Unsupported: []UnsupportedField{},
			Warnings: []UnsupportedField{}}}}
	for i, k := range Kinds {
		rd.rank[k.Array] = i
	}
	return rd
}

// Failed reports whether a problem was recorded: the export will not be imported.
func (rd *Reader) Failed() bool { return len(rd.im.Problems) > 0 }

// Limit is the most entities an array may hold.
func (rd *Reader) Limit() int { return rd.max }

func (rd *Reader) problem(field, msg string) {
	rd.im.Problems = append(rd.im.Problems, Problem{field, msg})
}

// Backends indexes the export's "backends" value, for the routes that reference one.
func (rd *Reader) Backends(v any) {
	list, _ := v.([]any)
	for _, b := range list {
		rd.AddBackend(b)
	}
}

// AddBackend indexes one element of the export's "backends" (Otoroshi StoredNgBackend: {id,
// backend: {...}}).
func (rd *Reader) AddBackend(v any) {
	bm, _ := v.(map[string]any)
	id, _ := bm["id"].(string)
	if inner, ok := bm["backend"].(map[string]any); ok && id != "" {
		rd.backends[id] = inner
	}
}

// NotArray records that the export's field name, an entity array, is not an array.
func (rd *Reader) NotArray(name string) { rd.problem(name, "must be an array") }

// TooMany records that the array name holds n entities, more than the limit.
func (rd *Reader) TooMany(name string, n int) {
	rd.problem(name, "holds "+strconv.Itoa(n)+" entities, more than the import limit of "+strconv.Itoa(rd.max)+
		" per list (torii serve --max-import-entities, admin.Options.MaxImportEntities)")
}

// Entity reads element index of the export array (one of Kinds): it checks it is an object with
// an id, counts it in the report, inlines its backend_ref, and lists what it holds that Torii
// does not implement. ok is false when it is not an entity (a problem was recorded). A route
// with a backend_ref should be read after every element of "backends" was added.
func (rd *Reader) Entity(array string, index int, v any) (e Entity, ok bool) {
	k, _ := KindOf(array)
	rep := rd.im.Report
	e = Entity{Array: array, Index: index}
	d, ok := v.(map[string]any)
	if !ok {
		rd.problem(e.Path(), "must be an object")
		return e, false
	}
	e.Doc = d
	id := e.ID()
	if id == "" {
		rd.problem(e.Path()+"."+k.IDField, "is required")
		return e, false
	}
	rep.Imported[array]++
	if !Managed(array) {
		rep.Kept[array]++
		return e, true
	}
	entity := array + "/" + id
	convert := func(msgs ...string) {
		for _, m := range msgs {
			rd.converted = append(rd.converted, converted{rd.rank[array], index, m})
		}
	}
	switch array {
	case ArrayRoutes:
		if inlineBackendRef(d, rd.backends) {
			convert(entity + ": backend_ref inlined from backends")
		}
		for _, f := range routeNestedUnsupported(d) {
			rep.Unsupported = append(rep.Unsupported, UnsupportedField{Entity: entity, Field: f})
		}
		be, _ := d["backend"].(map[string]any)
		convert(tlsTargets(entity, be)...)
	case ArrayDescriptors:
		r, missing := DescriptorToRoute(d)
		for _, f := range missing {
			rep.Unsupported = append(rep.Unsupported, UnsupportedField{Entity: entity, Field: f})
		}
		be, _ := r["backend"].(map[string]any)
		convert(tlsTargets(entity, be)...)
	}
	if f := knownFields[array]; f != nil {
		rd.unsupported(entity, d, f)
	}
	return e, true
}

// knownFields are the top-level fields Torii implements, by export array.
var knownFields = map[string]map[string]bool{ArrayRoutes: routeFields, ArrayGroups: groupFields, ArrayKeys: keyFields}

func (rd *Reader) unsupported(entity string, d map[string]any, known map[string]bool) {
	for k, v := range d {
		if !known[k] && !IsInert(v) {
			rd.im.Report.Unsupported = append(rd.im.Report.Unsupported, UnsupportedField{Entity: entity, Field: k})
		}
	}
}

// TopLevel reads the export's field name unless it is an entity array or one of the export's
// own header fields: the global config, or a field kept as it is and exported back.
func (rd *Reader) TopLevel(name string, v any) {
	if _, isKind := KindOf(name); isKind || exportHeader[name] {
		return
	}
	rep := rd.im.Report
	if name == "config" {
		if v == nil {
			return
		}
		cfg, ok := v.(map[string]any)
		if !ok {
			rd.problem("config", "must be an object")
			return
		}
		rd.im.Config = cfg
		rep.Imported["config"] = 1
		rd.unsupported("config", cfg, configFields)
		return
	}
	rd.im.Extra[name] = v
	if !IsInert(v) {
		rep.Unsupported = append(rep.Unsupported, UnsupportedField{Entity: "export", Field: name,
			Message: "kept and exported back, not enforced"})
	}
}

// Finish completes the report (conversions in the order of the export's arrays, notes, sorted
// lists) and returns what was read.
func (rd *Reader) Finish() *Import {
	sort.SliceStable(rd.converted, func(i, j int) bool {
		a, b := rd.converted[i], rd.converted[j]
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		return a.index < b.index
	})
	rep := rd.im.Report
	for _, c := range rd.converted {
		rep.Converted = append(rep.Converted, c.msg)
	}
	rep.Notes = append(rep.Notes, ThrottlingNote)
	rep.Sort()
	return rd.im
}

// ThrottlingNote says how Torii reads an API key's throttlingQuota, which changed across
// Otoroshi versions: before v16.23.0 (commit dc1ad56f4, January 2025) Otoroshi compared the
// 10-second window count with throttlingQuota × throttlingWindow (10 by default).
const ThrottlingNote = "throttlingQuota: Torii compares it with the number of calls in the last 10 seconds, as " +
	"Otoroshi v16.23.0 and later do (KvApiKeyDataStore.withinThrottlingQuota; the documentation says calls per " +
	"second). Otoroshi before v16.23.0 compared that count with throttlingQuota x 10: keys exported from such " +
	"a version allow 10 times fewer calls here; multiply their throttlingQuota by 10 to keep the old limit"

// routeNestedUnsupported lists the fields inside a route's frontend, backend, targets and client
// config that configure something Torii does not implement.
func routeNestedUnsupported(doc map[string]any) []string {
	var out []string
	scan := func(path string, m map[string]any, known map[string]bool) {
		for k, v := range m {
			if known[k] || IsInert(v) {
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

// inlineBackendRef replaces the backend of a route that references a stored backend (backend_ref)
// by a copy of that backend, since Torii routes carry their backend inline. It reports whether it
// did.
func inlineBackendRef(rm map[string]any, backends map[string]map[string]any) bool {
	ref, _ := rm["backend_ref"].(string)
	b, ok := backends[ref]
	if ref == "" || !ok {
		return false
	}
	rm["backend"] = jsonx.DeepCopy(b)
	delete(rm, "backend_ref")
	return true
}

// tlsTargets says, for each TLS target of a route backend (tls: true, from an https or ahttps
// descriptor target too), that it is connected to with TLS and how it is verified, and for each
// HTTP/2.0 target that it is spoken to in HTTP/2.
func tlsTargets(entity string, be map[string]any) []string {
	var out []string
	targets, _ := be["targets"].([]any)
	for i, t := range targets {
		tm, _ := t.(map[string]any)
		on, _ := tm["tls"].(bool)
		if p, _ := tm["protocol"].(string); strings.HasPrefix(strings.ToUpper(strings.TrimSpace(p)), "HTTP/2") {
			how := "h2c (HTTP/2 with prior knowledge, no TLS)"
			if on {
				how = "h2 over TLS (ALPN)"
			}
			out = append(out, fmt.Sprintf("%s: backend.targets[%d] keeps protocol %s: Torii speaks HTTP/2 to it, %s, with trailers and streaming both ways (gRPC)", entity, i, p, how))
		}
		if !on {
			continue
		}
		how := "verified against the system roots and its host name"
		if tc, _ := tm["tls_config"].(map[string]any); tc != nil {
			flag := func(f string) bool { b, _ := tc[f].(bool); return b }
			switch {
			case flag("trust_all"):
				how = "not verified (tls_config.trust_all)"
			case flag("loose"):
				how = "chain verified, host name not (tls_config.loose)"
			case flag("enabled"):
				how = "verified with tls_config (trusted_certs, client certs from the certificate store)"
			}
		}
		out = append(out, fmt.Sprintf("%s: backend.targets[%d] is a TLS target: Torii connects to it with TLS, %s", entity, i, how))
	}
	return out
}
