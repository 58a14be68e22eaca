package event

import (
	"encoding/json"
	"testing"
)

func TestFilterPatterns(t *testing.T) {
	var ev any
	if err := json.Unmarshal([]byte(`{"@type":"GatewayEvent","status":502,"method":"GET",
		"to":{"host":"api.example.com","uri":"/users"},"identity":{"tags":["prod","eu"]},"gwError":null}`), &ev); err != nil {
		t.Fatal(err)
	}
	f := func(pattern string, want bool) {
		t.Helper()
		var p map[string]any
		if err := json.Unmarshal([]byte(pattern), &p); err != nil {
			t.Fatal(err)
		}
		m, err := compileObject(p)
		if err != nil {
			t.Fatalf("%s: %v", pattern, err)
		}
		if got := m(ev); got != want {
			t.Fatalf("%s matched %v, want %v", pattern, got, want)
		}
	}
	f(`{}`, true)
	f(`{"@type":"GatewayEvent"}`, true)
	f(`{"@type":"AuditEvent"}`, false)
	f(`{"@type":"GatewayEvent","status":502}`, true)
	f(`{"status":"502"}`, false)
	f(`{"missing":1}`, false)
	f(`{"to":{"host":"api.example.com"}}`, true)
	f(`{"to":{"host":"other"}}`, false)
	f(`{"identity":{"tags":"prod"}}`, true)
	f(`{"identity":{"tags":["eu","prod"]}}`, true)
	f(`{"identity":{"tags":["us"]}}`, false)
	f(`{"status":{"$gte":500,"$lt":600}}`, true)
	f(`{"status":{"$gt":502}}`, false)
	f(`{"status":{"$in":[500,502]}}`, true)
	f(`{"method":{"$nin":["GET"]}}`, false)
	f(`{"to":{"host":{"$wildcard":"*.example.com"}}}`, true)
	f(`{"to":{"host":{"$wildcard":"*.example.org"}}}`, false)
	f(`{"to":{"uri":{"$regex":"/us.*"}}}`, true)
	f(`{"to":{"uri":{"$regex":"us"}}}`, false) // whole string
	f(`{"to":{"uri":{"$contains":"ser"}}}`, true)
	f(`{"gwError":{"$exists":false}}`, true)
	f(`{"status":{"$ne":200}}`, true)
	f(`{"@type":{"$regex":"Gateway.*"}}`, true) // Otoroshi's own alert filter has this shape
	f(`{"@type":{"$regex":"Alert.*"}}`, false)

	raw := []byte(`{"@type":"GatewayEvent","status":502}`)
	cf, err := compileFiltering(&Filtering{
		Include: []map[string]any{{"@type": "GatewayEvent"}, {"@type": "AlertEvent"}},
		Exclude: []map[string]any{{"status": map[string]any{"$lt": 400.0}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !cf.accept(&lazyEvent{kind: "GatewayEvent", doc: raw}) {
		t.Fatalf("502 gateway event rejected")
	}
	if cf.accept(&lazyEvent{kind: "GatewayEvent", doc: []byte(`{"@type":"GatewayEvent","status":200}`)}) {
		t.Fatalf("excluded event accepted")
	}
	// A type that no include names is rejected from @type alone: the
	// document (here not even JSON) is never decoded.
	audit := &lazyEvent{kind: "AuditEvent", doc: []byte("not json")}
	if cf.accept(audit) || audit.tried {
		t.Fatalf("audit event accepted or decoded (tried %v)", audit.tried)
	}
	// Without a known kind, @type comes from the document.
	if !cf.accept(&lazyEvent{doc: raw}) {
		t.Fatalf("event without kind rejected")
	}
}

func TestWildcardMatch(t *testing.T) {
	f := func(p, s string, want bool) {
		t.Helper()
		if got := wildcardMatch(p, s); got != want {
			t.Fatalf("wildcardMatch(%q, %q) = %v", p, s, got)
		}
	}
	f("", "", true)
	f("*", "", true)
	f("a*c", "abbbc", true)
	f("a*c", "abbbd", false)
	f("*b*", "abc", true)
	f("a**", "a", true)
	f("abc", "ab", false)
	f("*ab", "aab", true)
}
