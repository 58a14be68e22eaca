package apikey

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Plugin ids of the route plugins a Policy is built from.
const (
	PluginApikeyCalls        = "cp:otoroshi.next.plugins.ApikeyCalls"
	PluginPublicPrivatePaths = "cp:otoroshi.next.plugins.PublicPrivatePaths"
)

// Method is the way a request presented its key, in Otoroshi's extraction
// order: the first method whose credentials are present decides.
type Method uint8

// The extraction methods. MethodNone means no credentials were found.
const (
	MethodNone          Method = iota
	MethodBearer               // Otoroshi bearer otoapk_<id>_<hmac>
	MethodClientID             // client id alone (x-api-key)
	MethodCustomHeaders        // Otoroshi-Client-Id + Otoroshi-Client-Secret
	MethodJWT                  // HS256/384/512 JWT signed with the secret
	MethodBasic                // Basic base64(id:secret)
	numMethods
)

var methodNames = [numMethods]string{"none", "otoroshi_bearer", "client_id", "custom_headers", "jwt", "basic"}

// String returns a short stable name, fit for logs and events.
func (m Method) String() string {
	if m < numMethods {
		return methodNames[m]
	}
	return "unknown"
}

// Header slots: the header fields the extractors read. Policy.names holds the
// lower-case field name of each slot.
const (
	slotAuthorization = iota // Authorization: Bearer / Basic
	slotBearer               // Otoroshi bearer token header
	slotJWT                  // JWT header
	slotClientID             // client id alone
	slotID                   // custom headers: client id
	slotSecret               // custom headers: client secret
	slotBasic                // Basic credentials header
	numSlots
)

// Default header names (lower case), as Otoroshi's.
var defaultNames = [numSlots]string{
	slotAuthorization: "authorization",
	slotBearer:        "otoroshi-token",
	slotJWT:           "otoroshi-token",
	slotClientID:      "x-api-key",
	slotID:            "otoroshi-client-id",
	slotSecret:        "otoroshi-client-secret",
	slotBasic:         "otoroshi-authorization",
}

// Policy is the compiled API key configuration of one route: which extractors
// are on, which headers they read, and which paths are public. It is
// immutable after ParsePolicy and safe for concurrent readers.
type Policy struct {
	// Mandatory: a private path without credentials is refused (ErrNoKey).
	Mandatory bool
	// Validate: check enabled, validUntil, route authorization and readOnly.
	Validate bool
	// Wipe: report the credential headers in Result.Drop so the engine
	// removes them before calling the backend.
	Wipe bool
	// UpdateQuotas: count the call against the key's quotas.
	UpdateQuotas bool
	// Strict is PublicPrivatePaths' flag, kept for the admin API; with API
	// keys as the only identity it changes nothing.
	Strict bool
	// Warnings lists config options Torii ignores (query, cookie and path
	// extractors, routing constraints, key-pair signed JWTs).
	Warnings []string

	enabled [numMethods]bool
	names   [numSlots]string
	public  []pattern
	private []pattern
	paths   bool // a PublicPrivatePaths config was given
	include []pattern
	exclude []pattern
}

// extractor is the common shape of Otoroshi's extractor blocks; absent
// fields keep their defaults.
type extractor struct {
	Enabled                *bool   `json:"enabled"`
	HeaderName             *string `json:"header_name"`
	QueryName              *string `json:"query_name"`
	CookieName             *string `json:"cookie_name"`
	PathName               *string `json:"path_name"`
	ClientIDHeaderName     *string `json:"client_id_header_name"`
	ClientSecretHeaderName *string `json:"client_secret_header_name"`
	SecretSigned           *bool   `json:"secret_signed"`
	KeypairSigned          *bool   `json:"keypair_signed"`
	IncludeRequestAttrs    *bool   `json:"include_request_attrs"`
	MaxJwtLifespanSec      *int64  `json:"max_jwt_lifespan_sec"`
}

// apikeyCallsConfig is the config of cp:otoroshi.next.plugins.ApikeyCalls.
type apikeyCallsConfig struct {
	Extractors struct {
		Basic         extractor `json:"basic"`
		CustomHeaders extractor `json:"custom_headers"`
		ClientID      extractor `json:"client_id"`
		JWT           extractor `json:"jwt"`
		OtoBearer     extractor `json:"oto_bearer"`
	} `json:"extractors"`
	Routing struct {
		Enabled bool `json:"enabled"`
	} `json:"routing"`
	Validate           *bool `json:"validate"`
	Mandatory          *bool `json:"mandatory"`
	PassWithUser       *bool `json:"pass_with_user"`
	WipeBackendRequest *bool `json:"wipe_backend_request"`
	UpdateQuotas       *bool `json:"update_quotas"`
}

// publicPrivateConfig is the config of cp:otoroshi.next.plugins.PublicPrivatePaths.
type publicPrivateConfig struct {
	Strict          bool     `json:"strict"`
	PrivatePatterns []string `json:"private_patterns"`
	PublicPatterns  []string `json:"public_patterns"`
}

func orTrue(b *bool) bool { return b == nil || *b }

// ParsePolicy compiles the config objects of a route's ApikeyCalls and
// PublicPrivatePaths plugins. Either may be nil or empty: no ApikeyCalls
// config means Otoroshi's defaults (every extractor on, key mandatory);
// no PublicPrivatePaths config means every path is private. Path patterns
// are Otoroshi's: regular expressions that must match the whole path; a path
// is public when it matches a public pattern and no private pattern.
// Errors name the field.
func ParsePolicy(apikeyCalls, publicPrivate json.RawMessage) (*Policy, error) {
	return NewPolicy(PolicyInput{ApikeyCalls: apikeyCalls, PublicPrivatePaths: publicPrivate})
}

// PolicyInput is what NewPolicy reads from a route's enabled plugins.
type PolicyInput struct {
	// ApikeyCalls is the `config` of the ApikeyCalls plugin instance, and
	// Include and Exclude its `include` and `exclude` path patterns: the
	// plugin runs on a path when include is empty or matches, and exclude
	// does not match.
	ApikeyCalls      json.RawMessage
	Include, Exclude []string
	// PublicPrivatePaths is the `config` of the PublicPrivatePaths plugin.
	PublicPrivatePaths json.RawMessage
}

// NewPolicy is ParsePolicy with the ApikeyCalls plugin's include and exclude
// patterns.
func NewPolicy(in PolicyInput) (*Policy, error) {
	apikeyCalls, publicPrivate := in.ApikeyCalls, in.PublicPrivatePaths
	var cfg apikeyCallsConfig
	if len(bytes.TrimSpace(apikeyCalls)) > 0 {
		if err := json.Unmarshal(apikeyCalls, &cfg); err != nil {
			return nil, fmt.Errorf("cannot decode %s config: %w: %w", PluginApikeyCalls, ErrBadConfig, err)
		}
	}
	p := &Policy{
		Mandatory:    orTrue(cfg.Mandatory),
		Validate:     orTrue(cfg.Validate),
		Wipe:         orTrue(cfg.WipeBackendRequest),
		UpdateQuotas: orTrue(cfg.UpdateQuotas),
		names:        defaultNames,
	}
	ex := &cfg.Extractors
	p.enabled[MethodBearer] = orTrue(ex.OtoBearer.Enabled)
	p.enabled[MethodClientID] = orTrue(ex.ClientID.Enabled)
	p.enabled[MethodCustomHeaders] = orTrue(ex.CustomHeaders.Enabled)
	p.enabled[MethodJWT] = orTrue(ex.JWT.Enabled) && orTrue(ex.JWT.SecretSigned)
	p.enabled[MethodBasic] = orTrue(ex.Basic.Enabled)

	names := []struct {
		field string
		value *string
		slot  int
	}{
		{"extractors.oto_bearer.header_name", ex.OtoBearer.HeaderName, slotBearer},
		{"extractors.jwt.header_name", ex.JWT.HeaderName, slotJWT},
		{"extractors.client_id.header_name", ex.ClientID.HeaderName, slotClientID},
		{"extractors.custom_headers.client_id_header_name", ex.CustomHeaders.ClientIDHeaderName, slotID},
		{"extractors.custom_headers.client_secret_header_name", ex.CustomHeaders.ClientSecretHeaderName, slotSecret},
		{"extractors.basic.header_name", ex.Basic.HeaderName, slotBasic},
	}
	for _, n := range names {
		if n.value == nil || *n.value == "" {
			continue
		}
		if !isToken(*n.value) {
			return nil, fmt.Errorf("cannot use %s config: field %s: %w: %q is not a header name", PluginApikeyCalls, n.field, ErrBadConfig, *n.value)
		}
		p.names[n.slot] = strings.ToLower(*n.value)
	}

	warn := func(field string, set bool) {
		if set {
			p.Warnings = append(p.Warnings, field+" is not supported and is ignored")
		}
	}
	for name, e := range map[string]*extractor{
		"basic": &ex.Basic, "client_id": &ex.ClientID, "jwt": &ex.JWT, "oto_bearer": &ex.OtoBearer,
	} {
		warn("extractors."+name+".query_name", e.QueryName != nil && *e.QueryName != "")
		warn("extractors."+name+".cookie_name", e.CookieName != nil && *e.CookieName != "")
		warn("extractors."+name+".path_name", e.PathName != nil && *e.PathName != "")
	}
	warn("extractors.jwt.include_request_attrs", ex.JWT.IncludeRequestAttrs != nil && *ex.JWT.IncludeRequestAttrs)
	warn("extractors.jwt.max_jwt_lifespan_sec", ex.JWT.MaxJwtLifespanSec != nil)
	warn("routing.enabled", cfg.Routing.Enabled)
	warn("pass_with_user", cfg.PassWithUser != nil && *cfg.PassWithUser)
	p.Warnings = sortedUnique(p.Warnings)

	if len(bytes.TrimSpace(publicPrivate)) > 0 {
		var pp publicPrivateConfig
		if err := json.Unmarshal(publicPrivate, &pp); err != nil {
			return nil, fmt.Errorf("cannot decode %s config: %w: %w", PluginPublicPrivatePaths, ErrBadConfig, err)
		}
		p.paths = true
		p.Strict = pp.Strict
		var err error
		if p.public, err = compilePatterns(PluginPublicPrivatePaths, "public_patterns", pp.PublicPatterns); err != nil {
			return nil, err
		}
		if p.private, err = compilePatterns(PluginPublicPrivatePaths, "private_patterns", pp.PrivatePatterns); err != nil {
			return nil, err
		}
	}
	var err error
	if p.include, err = compilePatterns(PluginApikeyCalls, "include", in.Include); err != nil {
		return nil, err
	}
	if p.exclude, err = compilePatterns(PluginApikeyCalls, "exclude", in.Exclude); err != nil {
		return nil, err
	}
	return p, nil
}

// Enabled reports whether extraction method m is on.
func (p *Policy) Enabled(m Method) bool { return m < numMethods && p.enabled[m] }

func sortedUnique(s []string) []string {
	if len(s) < 2 {
		return s
	}
	out := s[:0]
	slices.Sort(s)
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// tchar is RFC 9110 §5.6.2: token = 1*tchar;
// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// patternKind says how a pattern matches; most patterns in real configs are
// a literal path or a literal prefix followed by ".*", which need no regexp.
type patternKind uint8

const (
	patAny patternKind = iota
	patExact
	patPrefix
	patRegexp
)

type pattern struct {
	kind patternKind
	lit  string
	re   *regexp.Regexp
}

// regexpMeta are the bytes with a meaning in RE2 syntax.
const regexpMeta = `\.+*?()|[]{}^$`

func compilePatterns(plugin, field string, src []string) ([]pattern, error) {
	out := make([]pattern, 0, len(src))
	for i, s := range src {
		pat, err := compilePattern(s)
		if err != nil {
			return nil, fmt.Errorf("cannot use %s config: field %s[%d]: %w: %w", plugin, field, i, ErrBadPattern, err)
		}
		out = append(out, pat)
	}
	return out, nil
}

func compilePattern(s string) (pattern, error) {
	body := strings.TrimSuffix(strings.TrimPrefix(s, "^"), "$")
	switch {
	case body == ".*":
		return pattern{kind: patAny}, nil
	case !strings.ContainsAny(body, regexpMeta):
		return pattern{kind: patExact, lit: body}, nil
	case strings.HasSuffix(body, ".*") && !strings.ContainsAny(body[:len(body)-2], regexpMeta):
		return pattern{kind: patPrefix, lit: body[:len(body)-2]}, nil
	}
	re, err := regexp.Compile(`^(?:` + body + `)$`)
	if err != nil {
		return pattern{}, err
	}
	return pattern{kind: patRegexp, re: re}, nil
}

// match reports whether the whole path matches. It does not allocate.
func (pat *pattern) match(path []byte) bool {
	switch pat.kind {
	case patAny:
		return true
	case patExact:
		return string(path) == pat.lit
	case patPrefix:
		return len(path) >= len(pat.lit) && string(path[:len(pat.lit)]) == pat.lit
	default:
		return pat.re.Match(path)
	}
}

func matchAny(pats []pattern, path []byte) bool {
	for i := range pats {
		if pats[i].match(path) {
			return true
		}
	}
	return false
}

// Public reports whether path (the request path without the query) may be
// called without a key. See Check for how paths are normalized. sc provides
// the decoding buffer; Public does not allocate once sc has grown to the
// longest path seen.
func (p *Policy) Public(sc *Scratch, path []byte) bool {
	if !p.paths || len(p.public) == 0 {
		return false
	}
	path, ok := normPath(sc, path)
	return ok && matchAny(p.public, path) && !matchAny(p.private, path)
}

// Applies reports whether the ApikeyCalls plugin runs on path, given its
// include and exclude patterns. A path that cannot be normalized safely is
// always in scope.
func (p *Policy) Applies(sc *Scratch, path []byte) bool {
	if len(p.include) == 0 && len(p.exclude) == 0 {
		return true
	}
	path, ok := normPath(sc, path)
	if !ok {
		return true
	}
	return (len(p.include) == 0 || matchAny(p.include, path)) && !matchAny(p.exclude, path)
}

// normPath decodes percent-escapes so that an encoded path matches the
// patterns of its decoded form. It reports false for a malformed escape, a
// dot segment ("/./", "/../", also with "\" as the separator) or an empty
// segment ("//"), which the backend may resolve to another path (many merge
// slashes, some read "\" as "/"): such a path must get the strictest
// treatment.
func normPath(sc *Scratch, path []byte) ([]byte, bool) {
	if bytes.IndexByte(path, '%') >= 0 {
		var ok bool
		if path, ok = sc.unescapePath(path); !ok {
			return nil, false
		}
	}
	return path, !hasDotSegment(path) && !bytes.Contains(path, []byte("//"))
}

// hasDotSegment reports whether path has a "." or ".." segment, taking both
// "/" and "\" as segment separators.
func hasDotSegment(path []byte) bool {
	for i := 0; i < len(path); i++ {
		if path[i] != '.' || (i > 0 && !isSep(path[i-1])) {
			continue
		}
		j := i + 1
		if j < len(path) && path[j] == '.' {
			j++
		}
		if j == len(path) || isSep(path[j]) {
			return true
		}
	}
	return false
}

func isSep(c byte) bool { return c == '/' || c == '\\' }
