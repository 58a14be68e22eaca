package admin

import (
	"crypto/subtle"
	"github.com/torii-gateway/torii/internal/jsonx"
	"net/http"
	"slices"
	"strings"

	"github.com/torii-gateway/torii/otoroshi"
)

// Otoroshi's exports hold the API key its own admin API accepts (admin-api-apikey-id, authorized on
// the group admin-api-group of the descriptor admin-api-service). Torii's admin API is guarded by
// its own admin key; accepting API keys too is a security decision, so it is an explicit global
// setting, off by default: adminApiKeysGroup names a service group whose API keys (enabled, right
// secret, by Basic or Otoroshi-Client-Id/Secret) are accepted by the admin API, read-only keys for
// reads only. With it, the Host check also accepts the host names of the routes and descriptors of
// that group (Otoroshi's admin host names, such as otoroshi-api.oto.tools).

// globalAdminKeysGroup is the global config field of the setting.
const globalAdminKeysGroup = "adminApiKeysGroup"

// adminKeysGroup returns the group whose API keys the admin API accepts ("" = none).
func adminKeysGroup(st *state) string {
	g, _ := st.globalDoc()[globalAdminKeysGroup].(string)
	return g
}

// keyOnGroup reports whether an API key document is authorized on group g (group_<g>, a bare
// group id, or the 2018-style authorizedGroup).
func keyOnGroup(doc map[string]any, g string) bool {
	if ag, _ := doc["authorizedGroup"].(string); ag == g {
		return true
	}
	ents, _ := doc["authorizedEntities"].([]any)
	for _, v := range ents {
		if s, _ := v.(string); s == "group_"+g || s == g {
			return true
		}
	}
	return false
}

// groupKeyAllowed reports whether id/secret is an enabled API key of the admin keys group, and
// whether that key is read-only. Constant time in the secret.
func (s *Server) groupKeyAllowed(r *http.Request, id, secret string) (ok, readOnly bool) {
	st := s.cur.Load()
	g := adminKeysGroup(st)
	if g == "" {
		return false, false
	}
	e, found := st.ents[kKeys].Get(id)
	if !found {
		return false, false
	}
	doc := e.doc()
	if doc == nil || !keyOnGroup(doc, g) || doc["enabled"] == false {
		return false, false
	}
	want, _ := doc["clientSecret"].(string)
	if subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		return false, false
	}
	ro, _ := doc["readOnly"].(bool)
	return true, ro
}

// groupHosts returns the host names of the routes and service descriptors of the admin keys
// group, lower case.
func groupHosts(st *state) []string {
	g := adminKeysGroup(st)
	if g == "" {
		return nil
	}
	var out []string
	inGroup := func(doc map[string]any) bool {
		if gid, _ := doc["groupId"].(string); gid == g {
			return true
		}
		gs, _ := doc["groups"].([]any)
		return slices.Contains(gs, any(g))
	}
	rd := &reader{}
	defer rd.close()
	for _, e := range st.ents[kRoutes].All() {
		doc, err := jsonx.DecodeObject(rd.bytes(e))
		if err != nil || !inGroup(doc) {
			continue
		}
		fe, _ := doc["frontend"].(map[string]any)
		ds, _ := fe["domains"].([]any)
		for _, d := range ds {
			if s, ok := d.(string); ok {
				host, _, _ := strings.Cut(s, "/")
				out = append(out, strings.ToLower(host))
			}
		}
	}
	for _, e := range st.ents[kDescriptors].Values() {
		if !inGroup(e.doc()) {
			continue
		}
		r, _ := otoroshi.DescriptorToRoute(e.doc())
		fe, _ := r["frontend"].(map[string]any)
		ds, _ := fe["domains"].([]any)
		for _, d := range ds {
			if s, ok := d.(string); ok {
				host, _, _ := strings.Cut(s, "/")
				out = append(out, strings.ToLower(host))
			}
		}
	}
	return out
}

// adminKeysNote tells, in an import report, which imported API keys Otoroshi's admin API accepted
// and whether Torii's does.
func adminKeysNote(st *state, rep *otoroshi.Report) {
	groups := map[string]bool{"admin-api-group": true}
	if d, ok := st.ents[kDescriptors].Get("admin-api-service"); ok {
		if g, _ := d.doc()["groupId"].(string); g != "" {
			groups[g] = true
		}
	}
	enabled := adminKeysGroup(st)
	for g := range groups {
		var ids []string
		for _, e := range st.ents[kKeys].Values() {
			if keyOnGroup(e.doc(), g) {
				ids = append(ids, e.id)
			}
		}
		if len(ids) == 0 {
			continue
		}
		slices.Sort(ids)
		for _, id := range ids {
			msg := "Otoroshi's admin API accepted this key (group " + g + "); Torii's admin API refuses it unless the global config sets " +
				globalAdminKeysGroup + " to \"" + g + "\" (PATCH /api/globalconfig), which also accepts that group's host names"
			if enabled == g {
				msg = "accepted by Torii's admin API (global config " + globalAdminKeysGroup + " = \"" + g + "\")"
			}
			rep.Warnings = append(rep.Warnings, otoroshi.UnsupportedField{Entity: "apiKeys/" + id, Field: "authorizedEntities", Message: msg})
		}
	}
}
