package admin

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/otoroshi"
)

type kindID int

// The kinds Torii validates and enforces. Every other entity array of an Otoroshi export gets a
// stored kind after these (see storedKind): kept, listed and exported back, not enforced.
const (
	kRoutes kindID = iota
	kGroups
	kKeys
	kExporters
	kDescriptors
	kCerts
	kAuths
	nManaged
)

// kind describes one entity kind of the REST API.
type kind struct {
	id      kindID
	path    string // URL segment under /api/
	bucket  string
	idField string // "id" or "clientId"
	audit   string // suffix of audit actions: CREATE_<audit>
	label   string // for messages
	array   string // the Otoroshi export array
	apis    string // "<group>/<version>/<plural>" under /apis/, or ""
	// stored kinds are kept as they are: read-only on the API, written by imports.
	stored bool
	// template returns a fresh entity with defaults (and generated ids and secrets).
	template func() map[string]any
	// defaults lists top-level fields filled in when missing on create and replace.
	defaults string
	// generate fills generated ids and secrets that are missing.
	generate func(doc map[string]any)
	// check appends the problems of one document to c.
	check func(c *checker, doc map[string]any)
	// enrich, when set, runs on API writes only (not imports) before check: it derives fields
	// and checks what an import keeps as it is (a certificate's validity dates).
	enrich func(c *checker, doc map[string]any, now time.Time)
}

// kinds are the managed kinds (indexed by their kindID), then one stored kind per other export
// array of otoroshi.Kinds.
var kinds = append([]*kind{
	kRoutes: {
		id: kRoutes, array: otoroshi.ArrayRoutes, apis: apisOf(otoroshi.ArrayRoutes),
		path: "routes", bucket: bucketRoutes, idField: "id", audit: "ROUTE", label: "route",
		template: routeTemplate, defaults: routeDefaults,
		generate: genRouteID,
		check:    checkRoute,
	},
	kGroups: {
		id: kGroups, array: otoroshi.ArrayGroups, apis: apisOf(otoroshi.ArrayGroups),
		path: "groups", bucket: bucketGroups, idField: "id", audit: "SERVICEGROUP", label: "group",
		template: groupTemplate, defaults: groupDefaults,
		generate: genGroupID,
		check:    checkGroup,
	},
	kKeys: {
		id: kKeys, array: otoroshi.ArrayKeys, apis: apisOf(otoroshi.ArrayKeys),
		path: "apikeys", bucket: bucketKeys, idField: "clientId", audit: "APIKEY", label: "apikey",
		template: keyTemplate, defaults: keyDefaults,
		generate: genKeyCreds,
		check:    checkKey,
	},
	kExporters: {
		id: kExporters, array: otoroshi.ArrayExporters, apis: apisOf(otoroshi.ArrayExporters),
		path: "data-exporter-configs", bucket: bucketExporters, idField: "id", audit: "DATAEXPORTER", label: "data exporter",
		template: exporterTemplate, defaults: exporterDefaults,
		generate: genExporterID,
		check:    checkExporter,
	},
	kDescriptors: {
		id: kDescriptors, array: otoroshi.ArrayDescriptors, apis: apisOf(otoroshi.ArrayDescriptors),
		path: "services", bucket: bucketDescriptors, idField: "id", audit: "SERVICE", label: "service descriptor",
		template: descriptorTemplate, defaults: descriptorDefaults,
		generate: genDescriptorID,
		check:    checkDescriptor,
	},
	kCerts: {
		id: kCerts, array: otoroshi.ArrayCerts, apis: apisOf(otoroshi.ArrayCerts),
		path: "certificates", bucket: bucketCerts, idField: "id", audit: "CERTIFICATE", label: "certificate",
		template: certTemplate, defaults: certDefaults,
		generate: genCertID,
		check:    checkCert,
		enrich:   enrichCert,
	},
	kAuths: {
		id: kAuths, array: otoroshi.ArrayAuthConfigs, apis: apisOf(otoroshi.ArrayAuthConfigs),
		path: "auths", bucket: otoroshi.ArrayAuthConfigs, idField: "id", audit: "AUTHCONFIG", label: "auth module",
		template: authTemplate, defaults: authDefaults,
		generate: genAuthID,
		check:    checkAuth,
	},
}, storedKinds()...)

// kindByArray finds the kind of an Otoroshi export array.
var kindByArray = func() map[string]*kind {
	m := make(map[string]*kind, len(kinds))
	for _, k := range kinds {
		m[k.array] = k
	}
	return m
}()

// storedKinds makes a stored kind of every export array Torii does not manage.
func storedKinds() []*kind {
	var out []*kind
	for _, info := range otoroshi.Kinds {
		if otoroshi.Managed(info.Array) {
			continue
		}
		out = append(out, &kind{id: nManaged + kindID(len(out)), path: info.Legacy, bucket: info.Array,
			idField: info.IDField, audit: strings.ToUpper(info.Array), label: info.Array, array: info.Array,
			apis: info.APIs, stored: true, defaults: "{}", check: checkStored(info.IDField)})
		if info.Array == arrayJWTVerifiers {
			out[len(out)-1].check = checkVerifier
		}
	}
	return out
}

// apisOf returns the /apis path of an export array's kind.
func apisOf(array string) string {
	info, _ := otoroshi.KindOf(array)
	return info.APIs
}

// checkStored checks what Torii needs of an entity it stores without enforcing: an object with an
// id.
func checkStored(idField string) func(c *checker, doc map[string]any) {
	return func(c *checker, doc map[string]any) { checkID(c, doc, idField) }
}

func genRouteID(doc map[string]any) {
	if s, _ := doc["id"].(string); s == "" {
		doc["id"] = "route_" + newUUID()
	}
}

func genGroupID(doc map[string]any) {
	if s, _ := doc["id"].(string); s == "" {
		doc["id"] = "group_" + newUUID()
	}
}

func genKeyCreds(doc map[string]any) {
	if s, _ := doc["clientId"].(string); s == "" {
		doc["clientId"] = newClientID()
	}
	if s, _ := doc["clientSecret"].(string); s == "" {
		doc["clientSecret"] = newClientSecret()
	}
}

// mustObject decodes a JSON object literal of this package; it panics on a typo, which tests catch.
func mustObject(s string) map[string]any {
	m, err := jsonx.DecodeObject([]byte(s))
	if err != nil {
		panic("BUG: bad JSON literal: " + err.Error())
	}
	return m
}

const locDefault = `{"tenant":"default","teams":["default"]}`

const routeDefaults = `{"_loc":` + locDefault + `,"name":"","description":"","tags":[],"metadata":{},
	"enabled":true,"debug_flow":false,"export_reporting":false,"capture":false,"groups":["default"],"plugins":[]}`

func routeTemplate() map[string]any {
	d := mustObject(`{"_loc":` + locDefault + `,"name":"New route","description":"A new route","tags":[],"metadata":{},
	"enabled":true,"debug_flow":false,"export_reporting":false,"capture":false,"groups":["default"],
	"frontend":{"domains":["new-route.oto.tools"],"strip_path":true,"exact":false,"headers":{},"query":{},"methods":[]},
	"backend":{"targets":[{"id":"target_1","hostname":"127.0.0.1","port":3000,"tls":false,"weight":1,
		"protocol":"HTTP/1.1","backup":false}],
		"root":"/","rewrite":false,"load_balancing":{"type":"RoundRobin"},
		"client":{"retries":1,"max_errors":20,"retry_initial_delay":50,"backoff_factor":2,"connection_timeout":10000,
			"idle_timeout":60000,"call_timeout":30000,"call_and_stream_timeout":120000,"global_timeout":30000,
			"sample_interval":2000},
		"health_check":null},
	"plugins":[]}`)
	genRouteID(d)
	return d
}

const groupDefaults = `{"_loc":` + locDefault + `,"description":"","tags":[],"metadata":{}}`

func groupTemplate() map[string]any {
	d := mustObject(`{"_loc":` + locDefault + `,"name":"New group","description":"A new group","tags":[],"metadata":{}}`)
	genGroupID(d)
	return d
}

const keyDefaults = `{"_loc":` + locDefault + `,"description":"","authorizedEntities":[],
	"enabled":true,"readOnly":false,"allowClientIdOnly":false,
	"throttlingQuota":10000000,"dailyQuota":10000000,"monthlyQuota":10000000,
	"validUntil":null,"tags":[],"metadata":{}}`

func keyTemplate() map[string]any {
	d := mustObject(`{"_loc":` + locDefault + `,"clientName":"New apikey","description":"A new apikey",
	"authorizedEntities":["group_default"],"enabled":true,"readOnly":false,"allowClientIdOnly":false,
	"throttlingQuota":10000000,"dailyQuota":10000000,"monthlyQuota":10000000,"constrainedServicesOnly":false,
	"restrictions":{"enabled":false,"allowLast":true,"allowed":[],"forbidden":[],"notFound":[]},
	"rotation":{"enabled":false,"rotationEvery":744,"gracePeriod":168,"nextSecret":null},
	"validUntil":null,"tags":[],"metadata":{}}`)
	genKeyCreds(d)
	return d
}

// globalDefaults are Otoroshi's, except trustXForwarded: Otoroshi defaults it to true, but Torii
// usually is the edge, where trusting X-Forwarded-For lets any client pick the address that the IP
// lists and the per-IP quota judge. underscoresInHeaders is Torii's (nginx's
// underscores_in_headers): request fields whose names hold "_" are dropped unless it is true.
const globalDefaults = `{"maintenanceMode":false,"throttlingQuota":10000000,"perIpThrottlingQuota":10000000,
	"ipFiltering":{"whitelist":[],"blacklist":[]},"trustXForwarded":false,"underscoresInHeaders":false,"limitConcurrentRequests":false,
	"maxConcurrentRequests":1000,"tags":[],"metadata":{}}`

func globalTemplate() map[string]any { return mustObject(globalDefaults) }

// fillDefaults sets the fields of defaults (a JSON object) that doc lacks.
func fillDefaults(doc map[string]any, defaults string) {
	var def map[string]any
	if v, ok := parsedDefaults.Load(defaults); ok {
		def = v.(map[string]any)
	} else {
		def = mustObject(defaults)
		parsedDefaults.Store(defaults, def)
	}
	for k, v := range def {
		if _, ok := doc[k]; !ok {
			doc[k] = jsonx.DeepCopy(v) // doc may be changed: never share the parsed values
		}
	}
}

// parsedDefaults caches the decoded defaults of fillDefaults by their JSON (decoding them for
// each entity was a third of a 100k-key import's CPU time).
var parsedDefaults sync.Map

// checker collects field errors.
type checker struct{ errs []FieldError }

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// str checks an optional (or required) string field and returns its value.
func (c *checker) str(m map[string]any, key, path string, required bool) string {
	v, ok := m[key]
	p := jsonx.JoinPath(path, key)
	if !ok || v == nil {
		if required {
			c.add(p, "is required")
		}
		return ""
	}
	s, ok := v.(string)
	if !ok {
		c.add(p, "must be a string")
		return ""
	}
	if required && s == "" {
		c.add(p, "must not be empty")
	}
	return s
}

func (c *checker) boolean(m map[string]any, key, path string) {
	if v, ok := m[key]; ok && v != nil {
		if _, ok := v.(bool); !ok {
			c.add(jsonx.JoinPath(path, key), "must be true or false")
		}
	}
}

// integer checks an optional integer field in [lo, hi] and returns it (0 when absent or bad).
func (c *checker) integer(m map[string]any, key, path string, lo, hi int64) int64 {
	v, ok := m[key]
	if !ok || v == nil {
		return 0
	}
	p := jsonx.JoinPath(path, key)
	n, ok := v.(json.Number)
	if !ok {
		c.add(p, "must be a number")
		return 0
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		c.add(p, "must be an integer")
		return 0
	}
	if i < lo || i > hi {
		c.add(p, "must be between %d and %d", lo, hi)
		return 0
	}
	return i
}

func (c *checker) object(m map[string]any, key, path string, required bool) map[string]any {
	v, ok := m[key]
	p := jsonx.JoinPath(path, key)
	if !ok || v == nil {
		if required {
			c.add(p, "is required")
		}
		return nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		c.add(p, "must be an object")
	}
	return o
}

func (c *checker) array(m map[string]any, key, path string) []any {
	v, ok := m[key]
	if !ok || v == nil {
		return nil
	}
	a, ok := v.([]any)
	if !ok {
		c.add(jsonx.JoinPath(path, key), "must be an array")
	}
	return a
}

func (c *checker) strings(m map[string]any, key, path string) []string {
	a := c.array(m, key, path)
	out := make([]string, 0, len(a))
	for i, v := range a {
		s, ok := v.(string)
		if !ok {
			c.add(jsonx.JoinPath(path, key)+"["+strconv.Itoa(i)+"]", "must be a string")
			continue
		}
		out = append(out, s)
	}
	return out
}

func (c *checker) stringMap(m map[string]any, key, path string) {
	o := c.object(m, key, path, false)
	for k, v := range o {
		if _, ok := v.(string); !ok {
			c.add(jsonx.JoinPath(jsonx.JoinPath(path, key), k), "must be a string")
		}
	}
}

// common checks the fields every entity shares.
func (c *checker) common(doc map[string]any) {
	c.strings(doc, "tags", "")
	c.stringMap(doc, "metadata", "")
	if loc := c.object(doc, "_loc", "", false); loc != nil {
		c.str(loc, "tenant", "_loc", false)
		c.strings(loc, "teams", "_loc")
	}
}

func checkID(c *checker, doc map[string]any, field string) {
	id := c.str(doc, field, "", true)
	if strings.ContainsAny(id, "/?#%") || strings.TrimSpace(id) != id {
		c.add(field, "must not contain '/', '?', '#', '%%' or surrounding spaces")
	}
}

func checkRoute(c *checker, doc map[string]any) {
	checkID(c, doc, "id")
	c.str(doc, "name", "", false)
	c.str(doc, "description", "", false)
	c.boolean(doc, "enabled", "")
	c.strings(doc, "groups", "")
	c.common(doc)
	if fe := c.object(doc, "frontend", "", true); fe != nil {
		domains := c.strings(fe, "domains", "frontend")
		if len(domains) == 0 {
			c.add("frontend.domains", "needs at least one domain")
		}
		for i, d := range domains {
			if d == "" || strings.ContainsAny(d, " \t\r\n") {
				c.add("frontend.domains["+strconv.Itoa(i)+"]", "must be a host or host/path without spaces")
			}
		}
		c.boolean(fe, "strip_path", "frontend")
		c.boolean(fe, "exact", "frontend")
		c.stringMap(fe, "headers", "frontend")
		c.stringMap(fe, "query", "frontend")
		c.strings(fe, "methods", "frontend")
	}
	if be := c.object(doc, "backend", "", true); be != nil {
		targets := c.array(be, "targets", "backend")
		if len(targets) == 0 {
			c.add("backend.targets", "needs at least one target")
		}
		for i, t := range targets {
			p := "backend.targets[" + strconv.Itoa(i) + "]"
			tm, ok := t.(map[string]any)
			if !ok {
				c.add(p, "must be an object")
				continue
			}
			c.str(tm, "hostname", p, true)
			c.integer(tm, "port", p, 1, 65535)
			if _, ok := tm["port"]; !ok {
				c.add(p+".port", "is required")
			}
			c.boolean(tm, "tls", p)
			c.integer(tm, "weight", p, 0, 1<<20)
			c.boolean(tm, "backup", p)
		}
		c.str(be, "root", "backend", false)
		c.boolean(be, "rewrite", "backend")
		if lb := c.object(be, "load_balancing", "backend", false); lb != nil {
			c.str(lb, "type", "backend.load_balancing", false)
		}
		if cl := c.object(be, "client", "backend", false); cl != nil {
			for _, f := range []string{"retries", "max_errors", "retry_initial_delay", "backoff_factor", "connection_timeout",
				"idle_timeout", "call_timeout", "call_and_stream_timeout", "global_timeout", "sample_interval"} {
				c.integer(cl, f, "backend.client", 0, 1<<40)
			}
		}
	}
	for i, p := range c.array(doc, "plugins", "") {
		path := "plugins[" + strconv.Itoa(i) + "]"
		pm, ok := p.(map[string]any)
		if !ok {
			c.add(path, "must be an object")
			continue
		}
		c.str(pm, "plugin", path, true)
		c.boolean(pm, "enabled", path)
		if cfg := c.object(pm, "config", path, false); cfg != nil {
			checkPatternLimits(c, cfg, path)
		}
	}
}

func checkGroup(c *checker, doc map[string]any) {
	checkID(c, doc, "id")
	c.str(doc, "name", "", true)
	c.str(doc, "description", "", false)
	c.common(doc)
}

func checkKey(c *checker, doc map[string]any) {
	checkID(c, doc, "clientId")
	c.str(doc, "clientSecret", "", true)
	c.str(doc, "clientName", "", true)
	c.str(doc, "description", "", false)
	c.strings(doc, "authorizedEntities", "")
	c.boolean(doc, "enabled", "")
	c.boolean(doc, "readOnly", "")
	c.boolean(doc, "allowClientIdOnly", "")
	for _, f := range []string{"throttlingQuota", "dailyQuota", "monthlyQuota"} {
		c.integer(doc, f, "", 0, 1<<53)
	}
	if v, ok := doc["validUntil"]; ok && v != nil {
		c.integer(doc, "validUntil", "", 0, 1<<53)
	}
	if rot := c.object(doc, "rotation", "", false); rot != nil {
		c.boolean(rot, "enabled", "rotation")
		c.integer(rot, "rotationEvery", "rotation", 0, 1<<40)
		c.integer(rot, "gracePeriod", "rotation", 0, 1<<40)
	}
	c.common(doc)
}

func checkGlobal(c *checker, doc map[string]any) {
	c.boolean(doc, "maintenanceMode", "")
	c.integer(doc, "throttlingQuota", "", 0, 1<<53)
	c.integer(doc, "perIpThrottlingQuota", "", 0, 1<<53)
	c.boolean(doc, "trustXForwarded", "")
	c.boolean(doc, "underscoresInHeaders", "")
	c.boolean(doc, "limitConcurrentRequests", "")
	c.integer(doc, "maxConcurrentRequests", "", 0, 1<<31)
	if ipf := c.object(doc, "ipFiltering", "", false); ipf != nil {
		for _, list := range []string{"whitelist", "blacklist"} {
			for i, s := range c.strings(ipf, list, "ipFiltering") {
				if _, err := netip.ParsePrefix(s); err == nil {
					continue
				}
				if _, err := netip.ParseAddr(s); err == nil {
					continue
				}
				c.add("ipFiltering."+list+"["+strconv.Itoa(i)+"]", "must be an IP address or a CIDR prefix")
			}
		}
	}
	c.str(doc, globalAdminKeysGroup, "", false)
	checkTLSSettings(c, doc)
	checkHTTP2Settings(c, doc)
	c.strings(doc, "tags", "")
	c.stringMap(doc, "metadata", "")
}

// secretFields are redacted in audit events and never logged (matched case-insensitively by
// substring on object keys).
// Header names count too: a webhook exporter's or a route's extra headers may carry credentials
// for a third party (Authorization, X-Api-Key, Cookie).
var secretFields = []string{"secret", "password", "privatekey", "token", "authorization", "apikey", "api-key", "cookie"}

const redacted = "********"

// redact returns a deep copy of v where every value under a secret-looking key is replaced.
func redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			lk := strings.ToLower(k)
			secret := false
			for _, s := range secretFields {
				if strings.Contains(lk, s) {
					secret = true
					break
				}
			}
			if secret && e != nil {
				if _, isObj := e.(map[string]any); !isObj {
					m[k] = redacted
					continue
				}
			}
			m[k] = redact(e)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, e := range t {
			a[i] = redact(e)
		}
		return a
	case string:
		return redactURL(t)
	}
	return v
}
