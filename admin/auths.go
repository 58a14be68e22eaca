package admin

import (
	"github.com/torii-gateway/torii/auth"
	"github.com/torii-gateway/torii/internal/jsonx"
)

// The authConfigs kind: Otoroshi's auth modules (/api/auths), validated by
// package auth and enforced by the AuthModule plugin through the login
// server (Options.PrivateApps).

const authDefaults = `{"desc":"","sessionMaxAge":86400,"basicAuth":false,"metadata":{},"tags":[]}`

func authTemplate() map[string]any {
	d := mustObject(`{"type":"basic","name":"New auth. module","desc":"New auth. module","basicAuth":false,
	"sessionMaxAge":86400,"users":[],"metadata":{},"tags":[],"allowedUsers":[],"deniedUsers":[]}`)
	genAuthID(d)
	return d
}

func genAuthID(doc map[string]any) {
	if s, _ := doc["id"].(string); s == "" {
		doc["id"] = "auth_mod_" + newUUID()
	}
}

// checkAuth decodes the module as the login server will and reports the
// field at fault.
func checkAuth(c *checker, doc map[string]any) {
	raw, err := jsonx.Encode(doc)
	if err != nil {
		c.add("", "cannot encode: %v", err)
		return
	}
	if _, err := auth.Decode(raw); err != nil {
		field, msg := auth.FieldOf(err)
		c.add(field, "%s", msg)
	}
}
