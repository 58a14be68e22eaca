package otoroshi

// KindInfo describes one entity array of an Otoroshi export: where its entities live in Otoroshi's
// admin API and which field identifies them.
type KindInfo struct {
	Array   string // the export array: "certificates"
	IDField string // "id", "clientId", "username", "serviceId"
	// Legacy is the path segment of Otoroshi's legacy admin API under /api/ ("certificates").
	Legacy string
	// APIs is "<group>/<version>/<plural>" of Otoroshi's /apis/ admin API (from its openapi.json),
	// or "" when Otoroshi has none for this kind.
	APIs string
}

// Managed arrays: Torii validates and enforces their entities.
const (
	ArrayRoutes      = "routes"
	ArrayGroups      = "serviceGroups"
	ArrayKeys        = "apiKeys"
	ArrayExporters   = "dataExporters"
	ArrayDescriptors = "serviceDescriptors"
	ArrayCerts       = "certificates"
	ArrayAuthConfigs = "authConfigs"
)

// GlobalConfigAPIs is "<group>/<version>/<plural>" of the global config in Otoroshi's /apis/ admin
// API; its one entity has the id GlobalConfigID.
const (
	GlobalConfigAPIs = "config.otoroshi.io/v1/global-configs"
	GlobalConfigID   = "global"
)

// Kinds lists every entity array of an Otoroshi export (Otoroshi's OtoroshiExport.json, plus the
// arrays older versions wrote), in export order. Torii stores each of them, lists it, and exports it
// back unchanged, whether or not it enforces it.
var Kinds = []KindInfo{
	{Array: "admins", IDField: "username", Legacy: "admins/webauthn"},
	{Array: "simpleAdmins", IDField: "username", Legacy: "admins/simple", APIs: "security.otoroshi.io/v1/admins"},
	{Array: ArrayGroups, IDField: "id", Legacy: "groups", APIs: "organize.otoroshi.io/v1/service-groups"},
	{Array: ArrayKeys, IDField: "clientId", Legacy: "apikeys", APIs: "apim.otoroshi.io/v1/apikeys"},
	{Array: ArrayDescriptors, IDField: "id", Legacy: "services", APIs: "proxy.otoroshi.io/v1/service-descriptors"},
	{Array: "errorTemplates", IDField: "serviceId", Legacy: "error-templates", APIs: "proxy.otoroshi.io/v1/error-templates"},
	{Array: "jwtVerifiers", IDField: "id", Legacy: "verifiers", APIs: "security.otoroshi.io/v1/jwt-verifiers"},
	{Array: ArrayAuthConfigs, IDField: "id", Legacy: "auths", APIs: "security.otoroshi.io/v1/auth-modules"},
	{Array: ArrayCerts, IDField: "id", Legacy: "certificates", APIs: "pki.otoroshi.io/v1/certificates"},
	{Array: "clientValidators", IDField: "id", Legacy: "client-validators"},
	{Array: "scripts", IDField: "id", Legacy: "scripts"},
	{Array: "tcpServices", IDField: "id", Legacy: "tcp/services", APIs: "proxy.otoroshi.io/v1/tcp-services"},
	{Array: ArrayExporters, IDField: "id", Legacy: "data-exporter-configs", APIs: "events.otoroshi.io/v1/data-exporters"},
	{Array: "tenants", IDField: "id", Legacy: "tenants", APIs: "organize.otoroshi.io/v1/tenants"},
	{Array: "teams", IDField: "id", Legacy: "teams", APIs: "organize.otoroshi.io/v1/teams"},
	{Array: ArrayRoutes, IDField: "id", Legacy: "routes", APIs: "proxy.otoroshi.io/v1/routes"},
	{Array: "routeCompositions", IDField: "id", Legacy: "route-compositions", APIs: "proxy.otoroshi.io/v1/route-compositions"},
	{Array: "services", IDField: "id", Legacy: "ng-services"},
	{Array: "backends", IDField: "id", Legacy: "backends", APIs: "proxy.otoroshi.io/v1/backends"},
	{Array: "targets", IDField: "id", Legacy: "targets"},
	{Array: "wasmPlugins", IDField: "id", Legacy: "wasm-plugins"},
	{Array: "drafts", IDField: "id", Legacy: "drafts", APIs: "proxy.otoroshi.io/v1/drafts"},
}

// KindOf returns the description of an export array; ok is false for an array Torii does not know.
func KindOf(array string) (KindInfo, bool) {
	for _, k := range Kinds {
		if k.Array == array {
			return k, true
		}
	}
	return KindInfo{}, false
}

// Managed reports whether Torii validates and enforces the entities of an export array.
func Managed(array string) bool {
	switch array {
	case ArrayRoutes, ArrayGroups, ArrayKeys, ArrayExporters, ArrayDescriptors, ArrayCerts, ArrayAuthConfigs:
		return true
	}
	return false
}
