package admin

import (
	"strconv"
)

// Size limits of what an admin may store, besides the body caps (DefaultMaxBody, importBodyFactor)
// and JSON nesting (jsonx.MaxDepth). The admin is trusted, but a pasted or generated configuration
// can be huge by mistake, and these bounds keep one write from stalling the writer or every
// proxied request.
const (
	// DefaultMaxImportEntities is the default of Options.MaxImportEntities, the cap on each
	// list of an import (routes, serviceDescriptors, apiKeys, ...): an operator with more API
	// keys raises it (torii serve --max-import-entities).
	DefaultMaxImportEntities = 1_000_000
	// maxPathPatterns caps the public and private patterns of one PublicPrivatePaths plugin:
	// each proxied request of the route may test all of them.
	maxPathPatterns = 256
	// maxPathPatternBytes caps one such pattern. Patterns are RE2 (no catastrophic
	// backtracking), but matching costs time in proportion to the pattern's size on every
	// request, and Go's regexp only refuses programs far larger than any real path pattern.
	maxPathPatternBytes = 1024
	// maxFilterRules caps the include and exclude rules of one data exporter, and
	// maxFilterValueBytes each string in them ($regex patterns included): every event of the
	// gateway is tested against them.
	maxFilterRules      = 256
	maxFilterValueBytes = 1024
	// maxHeaderBytes caps a request's header section on the admin port, so a client cannot make
	// it buffer megabytes before authenticating (net/http's default is 1 MB).
	maxHeaderBytes = 64 << 10
	// maxLoginBody caps POST /api/session, which anyone who reaches the port may send: a client
	// id and a secret fit many times over.
	maxLoginBody = 4 << 10
)

// patternFields are the plugin config fields that hold request path patterns.
var patternFields = []string{"public_patterns", "private_patterns"}

// checkPatternLimits checks the path pattern lists of a route plugin's config against
// maxPathPatterns and maxPathPatternBytes. path is the plugin's field path ("plugins[2]").
func checkPatternLimits(c *checker, cfg map[string]any, path string) {
	for _, f := range patternFields {
		list, _ := cfg[f].([]any)
		p := path + ".config." + f
		if len(list) > maxPathPatterns {
			c.add(p, "holds %d patterns, at most %d", len(list), maxPathPatterns)
			continue
		}
		for i, v := range list {
			if s, ok := v.(string); ok && len(s) > maxPathPatternBytes {
				c.add(p+"["+strconv.Itoa(i)+"]", "is %d bytes long, at most %d", len(s), maxPathPatternBytes)
			}
		}
	}
}

// checkFilterLimits checks a data exporter's filtering (its include and exclude lists) against
// maxFilterRules and maxFilterValueBytes.
func checkFilterLimits(c *checker, filtering map[string]any) {
	for _, f := range []string{"include", "exclude"} {
		rules, _ := filtering[f].([]any)
		p := "filtering." + f
		if len(rules) > maxFilterRules {
			c.add(p, "holds %d rules, at most %d", len(rules), maxFilterRules)
			continue
		}
		for i, r := range rules {
			checkValueBytes(c, r, p+"["+strconv.Itoa(i)+"]")
		}
	}
}

// checkValueBytes reports the first string under v longer than maxFilterValueBytes.
func checkValueBytes(c *checker, v any, path string) bool {
	switch t := v.(type) {
	case string:
		if len(t) > maxFilterValueBytes {
			c.add(path, "holds a string of %d bytes, at most %d", len(t), maxFilterValueBytes)
			return false
		}
	case map[string]any:
		for k, e := range t {
			if !checkValueBytes(c, k, path) || !checkValueBytes(c, e, path+"."+k) {
				return false
			}
		}
	case []any:
		for i, e := range t {
			if !checkValueBytes(c, e, path+"["+strconv.Itoa(i)+"]") {
				return false
			}
		}
	}
	return true
}
