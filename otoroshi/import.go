package otoroshi

import (
	"sort"
	"strconv"

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

// Sort orders the unsupported fields by entity, then field.
func (r *Report) Sort() {
	sort.Slice(r.Unsupported, func(i, j int) bool {
		a, b := r.Unsupported[i], r.Unsupported[j]
		if a.Entity != b.Entity {
			return a.Entity < b.Entity
		}
		return a.Field < b.Field
	})
}

// Kind names the Torii entity kinds an export carries.
type Kind int

// The kinds of Entity.
const (
	Route Kind = iota
	Group
	APIKey
	DataExporter
)

// Entity is one entity read from an export, ready for the caller's validation.
type Entity struct {
	Kind  Kind
	Array string // the export array it came from: "routes", "serviceDescriptors", ...
	Index int    // its index in that array
	Doc   map[string]any
}

// Path is the entity's place in the export, as field errors name it: "routes[3]".
func (e Entity) Path() string { return e.Array + "[" + strconv.Itoa(e.Index) + "]" }

// Problem is one structural error of an export (a list that is not a list, a descriptor without
// an id); Field is a path into the export.
type Problem struct {
	Field   string
	Message string
}

// Import is an export read into Torii's entities: routes (descriptors converted, stored backends
// inlined), groups, API keys and data exporters, in export order, plus the global config.
type Import struct {
	Entities []Entity
	Config   map[string]any // nil when the export has none
	// Report has Imported (counting every entity read), Unsupported, Ignored and Converted filled.
	Report   *Report
	Problems []Problem
}

// Read reads an Otoroshi export. It never fails: what cannot be read is listed in Problems, and a
// caller stores nothing when there is any. An array longer than maxEntities is a problem. The
// documents in the result are doc's own (backend references are inlined in place).
func Read(doc map[string]any, maxEntities int) *Import {
	im := &Import{Report: &Report{Done: true, Imported: map[string]int{}, Ignored: map[string]int{},
		Unsupported: []UnsupportedField{}}}
	rep := im.Report
	problem := func(field, msg string) { im.Problems = append(im.Problems, Problem{field, msg}) }
	list := func(name string) []any {
		v := doc[name]
		if v == nil {
			return nil
		}
		l, ok := v.([]any)
		if !ok {
			problem(name, "must be an array")
		}
		if len(l) > maxEntities {
			problem(name, "holds "+strconv.Itoa(len(l))+" entities, at most "+strconv.Itoa(maxEntities))
			return nil
		}
		return l
	}
	unsupported := func(entity string, d map[string]any, known map[string]bool) {
		for k, v := range d {
			if !known[k] && !IsInert(v) {
				rep.Unsupported = append(rep.Unsupported, UnsupportedField{Entity: entity, Field: k})
			}
		}
	}
	add := func(kind Kind, array string, i int, v any, known map[string]bool) map[string]any {
		d, ok := v.(map[string]any)
		if !ok {
			problem(array+"["+strconv.Itoa(i)+"]", "must be an object")
			return nil
		}
		im.Entities = append(im.Entities, Entity{Kind: kind, Array: array, Index: i, Doc: d})
		rep.Imported[array]++
		id, _ := d["id"].(string)
		if kind == APIKey {
			id, _ = d["clientId"].(string)
		}
		if known != nil {
			unsupported(array+"/"+id, d, known)
		}
		if kind == Route {
			for _, f := range routeNestedUnsupported(d) {
				rep.Unsupported = append(rep.Unsupported, UnsupportedField{Entity: array + "/" + id, Field: f})
			}
		}
		return d
	}

	referenced := map[string]bool{} // stored backends that routes reference
	routesList, _ := doc["routes"].([]any)
	for _, r := range routesList {
		rm, _ := r.(map[string]any)
		if ref, ok := rm["backend_ref"].(string); ok {
			referenced[ref] = true
		}
	}
	names := make([]string, 0, len(doc))
	for name := range doc {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := doc[name]
		l, isList := v.([]any)
		switch name {
		case "routes":
			backends := storedBackends(doc["backends"])
			for i, e := range list(name) {
				if inlineBackendRef(e, backends) {
					id, _ := e.(map[string]any)["id"].(string)
					rep.Converted = append(rep.Converted, "routes/"+id+": backend_ref inlined from backends")
				}
				add(Route, name, i, e, routeFields)
			}
		case "serviceGroups":
			for i, e := range list(name) {
				add(Group, name, i, e, groupFields)
			}
		case "apiKeys":
			for i, e := range list(name) {
				add(APIKey, name, i, e, keyFields)
			}
		case "dataExporters":
			for i, e := range list(name) {
				add(DataExporter, name, i, e, nil)
			}
		case "config":
			if v == nil {
				continue
			}
			cfg, ok := v.(map[string]any)
			if !ok {
				problem("config", "must be an object")
				continue
			}
			im.Config = cfg
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
				if len(l) > 0 {
					rep.Ignored[name] = len(l)
				}
			case !IsInert(v):
				rep.Unsupported = append(rep.Unsupported, UnsupportedField{Entity: "export", Field: name})
			}
		}
	}
	for i, e := range list("serviceDescriptors") {
		path := "serviceDescriptors[" + strconv.Itoa(i) + "]"
		sd, ok := e.(map[string]any)
		if !ok {
			problem(path, "must be an object")
			continue
		}
		id, _ := sd["id"].(string)
		if id == "" {
			problem(path+".id", "is required")
			continue
		}
		route, missing := DescriptorToRoute(sd)
		add(Route, "serviceDescriptors", i, route, nil)
		for _, f := range missing {
			rep.Unsupported = append(rep.Unsupported, UnsupportedField{Entity: "serviceDescriptors/" + id, Field: f})
		}
	}
	rep.Sort()
	return im
}

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
	rm["backend"] = jsonx.DeepCopy(b)
	delete(rm, "backend_ref")
	return true
}
