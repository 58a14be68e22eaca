package otoroshi

import "time"

// exportEmpty are the arrays of an Otoroshi export that Torii does not manage; exports carry them
// empty so Otoroshi can read the file.
var exportEmpty = []string{"admins", "simpleAdmins", "serviceDescriptors", "errorTemplates", "jwtVerifiers",
	"authConfigs", "certificates", "clientValidators", "scripts", "tcpServices", "tenants",
	"teams", "services", "backends", "targets"}

// Export builds an Otoroshi export from Torii's entities, each list in the order given, with the
// global config and the date now. The result shares the documents it is given.
func Export(routes, groups, keys, exporters []any, config map[string]any, now time.Time) map[string]any {
	doc := map[string]any{
		"label":         "Otoroshi export",
		"dateRaw":       now.UnixMilli(),
		"date":          now.UTC().Format("2006-01-02 15:04:05"),
		"config":        config,
		"routes":        routes,
		"serviceGroups": groups,
		"apiKeys":       keys,
		"dataExporters": exporters,
	}
	for _, k := range exportEmpty {
		doc[k] = []any{}
	}
	return doc
}
