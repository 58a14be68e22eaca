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
	im := &Import{Extra: map[string]any{}, Report: &Report{Done: true, Imported: map[string]int{},
		Kept: map[string]int{}, Ignored: map[string]int{}, Unsupported: []UnsupportedField{},
		Warnings: []UnsupportedField{}}}
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
			problem(name, "holds "+strconv.Itoa(len(l))+" entities, more than the import limit of "+strconv.Itoa(maxEntities)+
				" per list (torii serve --max-import-entities, admin.Options.MaxImportEntities)")
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
	known := map[string]map[string]bool{ArrayRoutes: routeFields, ArrayGroups: groupFields, ArrayKeys: keyFields}

	backends := storedBackends(doc["backends"])
	for _, k := range Kinds {
		for i, v := range list(k.Array) {
			e := Entity{Array: k.Array, Index: i}
			d, ok := v.(map[string]any)
			if !ok {
				problem(e.Path(), "must be an object")
				continue
			}
			e.Doc = d
			id := e.ID()
			if id == "" {
				problem(e.Path()+"."+k.IDField, "is required")
				continue
			}
			im.Entities = append(im.Entities, e)
			rep.Imported[k.Array]++
			if !Managed(k.Array) {
				rep.Kept[k.Array]++
				continue
			}
			entity := k.Array + "/" + id
			switch k.Array {
			case ArrayRoutes:
				if inlineBackendRef(d, backends) {
					rep.Converted = append(rep.Converted, entity+": backend_ref inlined from backends")
				}
				for _, f := range routeNestedUnsupported(d) {
					rep.Unsupported = append(rep.Unsupported, UnsupportedField{Entity: entity, Field: f})
				}
				be, _ := d["backend"].(map[string]any)
				rep.Converted = append(rep.Converted, tlsTargets(entity, be)...)
			case ArrayDescriptors:
				r, missing := DescriptorToRoute(d)
				for _, f := range missing {
					rep.Unsupported = append(rep.Unsupported, UnsupportedField{Entity: entity, Field: f})
				}
				be, _ := r["backend"].(map[string]any)
				rep.Converted = append(rep.Converted, tlsTargets(entity, be)...)
			}
			if f := known[k.Array]; f != nil {
				unsupported(entity, d, f)
			}
		}
	}
	for name, v := range doc {
		if _, isKind := KindOf(name); isKind || exportHeader[name] {
			continue
		}
		if name == "config" {
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
			continue
		}
		im.Extra[name] = v
		if !IsInert(v) {
			rep.Unsupported = append(rep.Unsupported, UnsupportedField{Entity: "export", Field: name,
				Message: "kept and exported back, not enforced"})
		}
	}
	rep.Notes = append(rep.Notes, ThrottlingNote)
	rep.Sort()
	return im
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
