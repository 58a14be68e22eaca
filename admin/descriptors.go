package admin

import (
	"encoding/json"

	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/internal/jsonx"
	"github.com/torii-gateway/torii/otoroshi"
)

// bucketDescriptors holds Otoroshi's legacy ServiceDescriptors, as they came: each one is
// converted into a route when the snapshot is compiled (otoroshi.DescriptorToRoute), never in the
// store, so a descriptor keeps its own fields and is exported back unchanged.
const bucketDescriptors = "descriptors"

func genDescriptorID(doc map[string]any) {
	if s, _ := doc["id"].(string); s == "" {
		doc["id"] = "service_" + newUUID()
	}
}

// descriptorDefaults is empty: a descriptor is stored exactly as given.
const descriptorDefaults = `{}`

func descriptorTemplate() map[string]any {
	d := mustObject(`{"_loc":` + locDefault + `,"name":"New service","description":"A new service descriptor",
	"env":"prod","domain":"oto.tools","subdomain":"new-service","groups":["default"],"enabled":true,
	"targets":[{"host":"127.0.0.1:3000","scheme":"http","weight":1,"protocol":"HTTP/1.1"}],"root":"/",
	"matchingRoot":null,"stripPath":true,"publicPatterns":[],"privatePatterns":[],"overrideHost":true,
	"tags":[],"metadata":{}}`)
	genDescriptorID(d)
	return d
}

// checkDescriptor checks a descriptor's id, then the route it converts into: a descriptor that
// would not make a valid route is refused with that route's field errors, named "route.<field>".
func checkDescriptor(c *checker, doc map[string]any) {
	checkID(c, doc, "id")
	if len(c.errs) > 0 {
		return
	}
	r, _ := otoroshi.DescriptorToRoute(doc)
	fillDefaults(r, routeDefaults)
	sub := &checker{}
	checkRoute(sub, r)
	for _, fe := range sub.errs {
		c.add("route."+fe.Field, "%s", fe.Message)
	}
}

// descriptorDoc converts the descriptor e into its route document (same id).
func descriptorDoc(e *entity) map[string]any {
	d, _ := otoroshi.DescriptorToRoute(e.doc())
	fillDefaults(d, routeDefaults)
	return d
}

// descriptorRoute converts the descriptor e into its route (r.ID is set even on an error).
func descriptorRoute(e *entity) (route.Route, error) {
	r := route.Route{ID: e.id}
	raw, err := jsonx.Encode(descriptorDoc(e))
	if err == nil {
		err = json.Unmarshal(raw, &r)
	}
	return r, err
}
