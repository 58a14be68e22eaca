package auth

import "testing"

// Decode checks each type's fields and names the one at fault; Otoroshi's
// other module types are kept (Unsupported), not refused.
func TestDecodeModules(t *testing.T) {
	f := func(doc, field string) {
		t.Helper()
		c, err := Decode([]byte(doc))
		if field == "" {
			if err != nil {
				t.Fatalf("%s: %v", doc, err)
			}
			return
		}
		if got, _ := FieldOf(err); got != field {
			t.Fatalf("%s: field %q (%v), want %q", doc, got, err, field)
		}
		_ = c
	}
	f(`{"type":"basic","id":"a","users":[]}`, "")
	f(`{"type":"basic","id":"","users":[]}`, "id")
	f(`{"type":"basic","id":"a","sessionMaxAge":-1}`, "sessionMaxAge")
	f(`{"type":"basic","id":"a","users":[{"email":"x@y","password":"plain"}]}`, "users[0].password")
	f(`{"type":"oauth2","id":"o","clientId":"c","oidConfig":"https://idp.example/.well-known/openid-configuration"}`, "")
	f(`{"type":"oauth2-global","id":"o","clientId":"c","authorizeUrl":"https://idp/a","tokenUrl":"https://idp/t"}`, "")
	f(`{"type":"oauth2","id":"o","clientId":"c"}`, "authorizeUrl")
	f(`{"type":"oauth2","id":"o","clientId":"","oidConfig":"https://idp/"}`, "clientId")
	f(`{"type":"oauth2","id":"o","clientId":"c","oidConfig":"https://idp/","pkce":{"enabled":true,"algorithm":"S512"}}`, "pkce.algorithm")
	f(`{"type":"oauth2","id":"o","clientId":"c","authorizeUrl":"https://idp/a","tokenUrl":"https://idp/t","readProfileFromToken":true}`, "readProfileFromToken")
	f(`{"type":"ldap","id":"l","serverUrls":["ldap://127.0.0.1:389"],"searchBase":"dc=x","searchFilter":"(uid=${username})"}`, "")
	f(`{"type":"ldap","id":"l","serverUrls":["ldaps://x:636"],"searchBase":"dc=x","searchFilter":"(uid=${username})"}`, "")
	f(`{"type":"ldap","id":"l","serverUrls":["http://x:636"],"searchBase":"dc=x","searchFilter":"(uid=${username})"}`, "serverUrls[0]")
	f(`{"type":"ldap","id":"l","serverUrls":["ldap://x"],"searchBase":"dc=x","searchFilter":"(uid=${username}"}`, "searchFilter")
	f(`{"type":"ldap","id":"l","serverUrls":["ldap://x"],"searchBase":"dc=x","searchFilter":"(uid=${username})","groupFilters":[{"group":"(cn=a"}]}`, "groupFilters[0].group")
	f(`{"type":"basik","id":"a"}`, "type")
	c, err := Decode([]byte(`{"type":"saml","id":"s","whatever":1}`))
	if err != nil || !c.Unsupported {
		t.Fatalf("saml: %+v %v", c, err)
	}
	c, _ = Decode([]byte(`{"type":"oauth2-global","id":"o","clientId":"c","oidConfig":"https://idp/"}`))
	if c.Type != TypeOAuth2 || c.Cookie() != "oto-papps-global-oauth-o" {
		t.Fatalf("oauth2-global: %s %s", c.Type, c.Cookie())
	}
}
