package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/torii-gateway/torii/httpparse"
)

// Verifier is one of Otoroshi's global JWT verifiers (the jwtVerifiers
// entity, `type: global`): where the token is, how it is verified, which
// claims must hold, and what is sent on (strategy).
//
//	{"id":"jwt_1","name":"...","enabled":true,"strict":true,
//	 "source":{"type":"InHeader","name":"Authorization","remove":"Bearer "},
//	 "algoSettings":{"type":"HSAlgoSettings","size":512,"secret":"secret"},
//	 "strategy":{"type":"PassThrough","verificationSettings":{"fields":{"iss":"me"},"arrayFields":{}}}}
//
// Immutable once compiled; safe for concurrent use.
type Verifier struct {
	ID, Name string
	enabled  bool
	strict   bool
	source   tokenSource
	algo     *Algo      // HS, RS, ES, PS settings
	jwks     *jwksCache // JWKSAlgoSettings
	fields   []claimRule
	strategy string // PassThrough, Sign, Transform, DefaultToken
	out      *Algo  // Sign, Transform: the re-signing algorithm
	outLoc   tokenSource
	mapping  map[string]string
	values   map[string]json.RawMessage
	remove   []string
	// DefaultToken (JwtSigner): the claims template and whether a present
	// token is an error.
	template     map[string]json.RawMessage
	defaultStrct bool
}

// claimRule is one of verificationSettings' fields (equal) or arrayFields
// (contained).
type claimRule struct {
	name, value string
	array       bool
}

// tokenSource is Otoroshi's JwtTokenLocation.
type tokenSource struct {
	kind   string // InHeader, InQueryParam, InCookie
	name   string
	lower  string
	remove string // InHeader: text removed from the value (Otoroshi: a regex; here a literal)
}

func (s *tokenSource) token(x *Ctx) ([]byte, bool) {
	var v []byte
	switch s.kind {
	case "InHeader":
		span, ok := x.Req.Lookup(x.Buf, s.lower)
		if !ok {
			return nil, false
		}
		v = span.Bytes(x.Buf)
		if s.remove != "" {
			if i := bytes.Index(v, []byte(s.remove)); i == 0 {
				v = v[len(s.remove):]
			}
		}
	case "InQueryParam":
		q, ok := QueryValue(x.Req.Query.Bytes(x.Buf), s.name)
		if !ok {
			return nil, false
		}
		v = q
	case "InCookie":
		c, ok := CookieValue(x.Req, x.Buf, s.name)
		if !ok {
			return nil, false
		}
		v = c
	}
	v = trimSpace(v)
	v = bytes.TrimPrefix(v, []byte("Bearer "))
	return v, len(v) > 0
}

// verifierDoc is the JSON of a jwtVerifiers entity.
type verifierDoc struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Type         string          `json:"type"`
	Enabled      *bool           `json:"enabled"`
	Strict       *bool           `json:"strict"`
	Source       json.RawMessage `json:"source"`
	AlgoSettings json.RawMessage `json:"algoSettings"`
	Strategy     json.RawMessage `json:"strategy"`
}

type sourceDoc struct {
	Type   string `json:"type"`
	Name   string `json:"name"`
	Remove string `json:"remove"`
}

type strategyDoc struct {
	Type                 string          `json:"type"`
	Strict               *bool           `json:"strict"`
	Token                json.RawMessage `json:"token"`
	VerificationSettings struct {
		Fields      map[string]string `json:"fields"`
		ArrayFields map[string]string `json:"arrayFields"`
	} `json:"verificationSettings"`
	AlgoSettings      json.RawMessage `json:"algoSettings"`
	TransformSettings *struct {
		Location        json.RawMessage `json:"location"`
		MappingSettings struct {
			Map    map[string]string          `json:"map"`
			Values map[string]json.RawMessage `json:"values"`
			Remove []string                   `json:"remove"`
		} `json:"mappingSettings"`
	} `json:"transformSettings"`
}

// FieldError is one bad field of a jwtVerifiers entity.
type FieldError struct{ Field, Message string }

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// CompileVerifier compiles a jwtVerifiers entity. The errors name each bad
// field (source.name, algoSettings.size, strategy.type ...). A JWKS
// verifier's keys are fetched off the caller's goroutine when first needed
// and refreshed every ttl (jwks.go).
func CompileVerifier(raw json.RawMessage) (*Verifier, []FieldError) {
	var errs []FieldError
	fail := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	var d verifierDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, []FieldError{{"", "must be a JSON object: " + err.Error()}}
	}
	v := &Verifier{ID: d.ID, Name: d.Name, enabled: d.Enabled == nil || *d.Enabled, strict: d.Strict == nil || *d.Strict}
	if d.ID == "" {
		fail("id", "is required")
	}
	if d.Type != "" && d.Type != "global" {
		fail("type", "only global verifiers are entities, got %q", d.Type)
	}
	v.source = compileSource(d.Source, "source", fail)
	if len(d.AlgoSettings) == 0 {
		fail("algoSettings", "is required")
	} else {
		v.algo, v.jwks = compileAlgoSettings(d.AlgoSettings, "algoSettings", false, fail)
	}
	var st strategyDoc
	if len(d.Strategy) == 0 || json.Unmarshal(d.Strategy, &st) != nil {
		fail("strategy", "must be an object with a type")
		return v, errs
	}
	v.strategy = st.Type
	for _, k := range sortedHeaders(st.VerificationSettings.Fields) {
		v.fields = append(v.fields, claimRule{name: k, value: st.VerificationSettings.Fields[k]})
	}
	for _, k := range sortedHeaders(st.VerificationSettings.ArrayFields) {
		v.fields = append(v.fields, claimRule{name: k, value: st.VerificationSettings.ArrayFields[k], array: true})
	}
	switch st.Type {
	case "PassThrough":
	case "Sign", "Transform":
		if len(st.AlgoSettings) == 0 {
			fail("strategy.algoSettings", "is required for %s", st.Type)
		} else {
			v.out, _ = compileAlgoSettings(st.AlgoSettings, "strategy.algoSettings", true, fail)
		}
		v.outLoc = v.source
		if st.Type == "Transform" {
			if st.TransformSettings == nil {
				fail("strategy.transformSettings", "is required for Transform")
				break
			}
			v.outLoc = compileSource(st.TransformSettings.Location, "strategy.transformSettings.location", fail)
			v.mapping = st.TransformSettings.MappingSettings.Map
			v.values = st.TransformSettings.MappingSettings.Values
			v.remove = st.TransformSettings.MappingSettings.Remove
		}
		if v.outLoc.kind != "" && v.outLoc.kind != "InHeader" {
			fail("strategy", "Torii sends a re-signed token in a header only (InHeader), got %s", v.outLoc.kind)
		}
	case "DefaultToken":
		v.defaultStrct = st.Strict == nil || *st.Strict
		if len(st.Token) > 0 && string(st.Token) != "null" {
			if err := json.Unmarshal(st.Token, &v.template); err != nil {
				fail("strategy.token", "must be a JSON object: %v", err)
			}
		}
		if v.algo != nil && !v.algo.canSign() {
			fail("algoSettings.privateKey", "JwtSigner signs with the verifier's algoSettings: it needs a private key")
		}
		if v.source.kind != "" && v.source.kind != "InHeader" {
			fail("source", "Torii sends a signed token in a header only (InHeader), got %s", v.source.kind)
		}
	default:
		fail("strategy.type", "must be PassThrough, Sign, Transform or DefaultToken, got %q", st.Type)
	}
	return v, errs
}

func compileSource(raw json.RawMessage, field string, fail func(string, string, ...any)) tokenSource {
	var s sourceDoc
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		fail(field, "must be an object {type: InHeader|InQueryParam|InCookie, name}")
		return tokenSource{}
	}
	switch s.Type {
	case "InHeader", "InQueryParam", "InCookie":
	default:
		fail(field+".type", "must be InHeader, InQueryParam or InCookie, got %q", s.Type)
	}
	if s.Name == "" || (s.Type == "InHeader" && !validFieldName(s.Name)) {
		fail(field+".name", "bad name %q", s.Name)
	}
	return tokenSource{kind: s.Type, name: s.Name, lower: strings.ToLower(s.Name), remove: s.Remove}
}

func compileAlgoSettings(raw json.RawMessage, field string, sign bool, fail func(string, string, ...any)) (*Algo, *jwksCache) {
	var s AlgoSettings
	var probe struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		fail(field, "must be an object")
		return nil, nil
	}
	if probe.Type == "JWKSAlgoSettings" {
		if sign {
			fail(field+".type", "a JWKS cannot sign")
			return nil, nil
		}
		c, err := compileJWKS(raw)
		if err != nil {
			fail(field+"."+err.Field, "%s", err.Message)
			return nil, nil
		}
		return nil, c
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		fail(field, "bad value: %v", err)
		return nil, nil
	}
	a, err := NewAlgo(s)
	if err != nil {
		sub, msg, _ := strings.Cut(err.Error(), ": ")
		fail(field+"."+sub, "%s", msg)
		return nil, nil
	}
	if sign && !a.canSign() {
		fail(field+".privateKey", "signing needs a private key")
		return nil, nil
	}
	return a, nil
}

// VerifierSet is the compiled jwtVerifiers, by id. Immutable.
type VerifierSet struct{ m map[string]*Verifier }

// NewVerifierSet compiles every verifier document; the error names each
// bad field as jwtVerifiers[<id>].<field>.
func NewVerifierSet(docs []json.RawMessage) (*VerifierSet, error) {
	s := &VerifierSet{m: make(map[string]*Verifier, len(docs))}
	var errs []error
	for i, d := range docs {
		v, fe := CompileVerifier(d)
		id := fmt.Sprint(i)
		if v != nil && v.ID != "" {
			id = v.ID
		}
		for _, e := range fe {
			errs = append(errs, fmt.Errorf("%w: jwtVerifiers[%s].%s: %s", ErrConfig, id, e.Field, e.Message))
		}
		if len(fe) == 0 {
			s.m[v.ID] = v
		}
	}
	return s, errors.Join(errs...)
}

// Get returns the verifier id, or nil.
func (s *VerifierSet) Get(id string) *Verifier {
	if s == nil {
		return nil
	}
	return s.m[id]
}

// Len is the number of verifiers.
func (s *VerifierSet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.m)
}

// errBadToken: how a verification failed.
var errBadToken = errors.New("error.bad.token")

// verify checks tok: signature (the verifier's key, or the JWKS key of its
// kid), exp/nbf/iat against now, then the verification fields. It returns
// the payload JSON (appended to dst[:0]).
func (v *Verifier) verify(dst, tok []byte, now time.Time) ([]byte, error) {
	var payload []byte
	var err error
	if v.jwks != nil {
		payload, err = v.jwks.verify(dst, tok)
	} else if v.algo != nil {
		payload, err = v.algo.Verify(dst, tok)
	} else {
		return dst[:0], errBadToken
	}
	if err != nil {
		return payload, errBadToken
	}
	var claims map[string]json.RawMessage
	if json.Unmarshal(payload, &claims) != nil {
		return payload, errBadToken
	}
	n := now.Unix()
	if exp, ok := numClaim(claims, "exp"); ok && n >= exp {
		return payload, errBadToken
	}
	if nbf, ok := numClaim(claims, "nbf"); ok && n < nbf {
		return payload, errBadToken
	}
	if iat, ok := numClaim(claims, "iat"); ok && n < iat {
		return payload, errBadToken
	}
	for _, r := range v.fields {
		raw, ok := claims[r.name]
		if !ok {
			return payload, errBadToken
		}
		if r.array {
			var l []any
			if json.Unmarshal(raw, &l) != nil || !containsText(l, r.value) {
				return payload, errBadToken
			}
			continue
		}
		if claimText(raw) != r.value {
			return payload, errBadToken
		}
	}
	return payload, nil
}

func numClaim(c map[string]json.RawMessage, k string) (int64, bool) {
	raw, ok := c[k]
	if !ok {
		return 0, false
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil {
		return 0, false
	}
	return int64(f), true
}

// claimText is a claim as Otoroshi compares it: a string's value, other
// JSON as written.
func claimText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func containsText(l []any, want string) bool {
	for _, e := range l {
		if fmt.Sprint(e) == want {
			return true
		}
	}
	return false
}

// resign builds the token a Sign or Transform strategy sends on.
func (v *Verifier) resign(dst, payload []byte) ([]byte, error) {
	if v.strategy == "Sign" {
		return v.out.AppendToken(dst, payload)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return dst, err
	}
	keys := make([]string, 0, len(v.mapping))
	for k := range v.mapping {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, from := range keys {
		if val, ok := claims[from]; ok {
			delete(claims, from)
			claims[v.mapping[from]] = val
		}
	}
	for k, val := range v.values {
		claims[k] = val
	}
	for _, k := range v.remove {
		delete(claims, k)
	}
	out, err := json.Marshal(claims)
	if err != nil {
		return dst, err
	}
	return v.out.AppendToken(dst, out)
}

// jwtVerification is the JwtVerification plugin: the verifiers it names,
// tried in order; the first whose source holds a token decides.
type jwtVerification struct {
	ids []string
}

func (j *jwtVerification) check(x *Ctx, xs *Exchange) Verdict {
	strict := false
	for _, id := range j.ids {
		v := x.Verifiers.Get(id)
		if v == nil {
			return Verdict{Refuse: RefusalVerifierMissing}
		}
		if !v.enabled {
			continue
		}
		tok, ok := v.source.token(x)
		if !ok {
			strict = strict || v.strict
			continue
		}
		payload, err := v.verify(xs.jwt[:0], tok, nowOr(x.Now))
		xs.jwt = payload[:0]
		if err != nil {
			return Verdict{Refuse: RefusalBadToken}
		}
		if v.strategy == "Sign" || v.strategy == "Transform" {
			start := len(payload)
			out, err := v.resign(payload, payload)
			if err != nil {
				return Verdict{Refuse: RefusalBadToken}
			}
			xs.jwt = out
			xs.jwtAt = start
			xs.jwtName, xs.jwtPrefix = v.outLoc.name, v.outLoc.remove
			xs.jwtDrop = v.source.lower
		}
		return Verdict{}
	}
	if strict {
		return Verdict{Refuse: RefusalTokenMissing}
	}
	return Verdict{}
}

// jwtSigner is the JwtSigner plugin.
type jwtSigner struct {
	id               string
	replaceIfPresent bool
	failIfPresent    bool
}

func (j *jwtSigner) check(x *Ctx, xs *Exchange) Verdict {
	v := x.Verifiers.Get(j.id)
	if v == nil || v.algo == nil || v.strategy != "DefaultToken" {
		return Verdict{Refuse: RefusalVerifierMissing}
	}
	_, present := v.source.token(x)
	if present && j.failIfPresent {
		return Verdict{Refuse: RefusalHeaders}
	}
	if present && !j.replaceIfPresent {
		return Verdict{}
	}
	now := nowOr(x.Now).Unix()
	sub := "anonymous"
	if x.Key != nil {
		sub = x.Key.ClientName
	} else if x.User != nil {
		sub = x.User.Email
	}
	claims := map[string]any{"jti": string(appendUUID(nil)), "iat": now, "nbf": now, "iss": Issuer,
		"exp": now + 60, "sub": sub, "aud": "backend"}
	for k, raw := range v.template {
		var val any
		if json.Unmarshal(raw, &val) != nil {
			continue
		}
		if s, ok := val.(string); ok {
			switch s {
			case "{iat}", "{nbf}":
				val = now
			case "{exp}":
				val = now + 60
			default:
				if e, err := CompileExpr(s); err == nil {
					val = string(e.Append(nil, x))
				}
			}
		}
		claims[k] = val
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return Verdict{Refuse: RefusalBadToken}
	}
	out, err := v.algo.AppendToken(xs.jwt[:0], payload)
	if err != nil {
		return Verdict{Refuse: RefusalBadToken}
	}
	xs.jwt, xs.jwtAt = out, 0
	xs.jwtName, xs.jwtPrefix, xs.jwtDrop = v.source.name, v.source.remove, v.source.lower
	return Verdict{}
}

// appendJWT appends the header field a verifier or signer set, if any.
func (xs *Exchange) appendJWT(dst []byte) []byte {
	if xs.jwtName == "" {
		return dst
	}
	dst = append(dst, xs.jwtName...)
	dst = append(dst, ": "...)
	dst = append(dst, xs.jwtPrefix...)
	dst = append(dst, xs.jwt[xs.jwtAt:]...)
	return append(dst, "\r\n"...)
}

// dropJWT reports whether name is the field the verifier's token came in,
// replaced by appendJWT.
func (xs *Exchange) dropJWT(name []byte) bool {
	return xs.jwtDrop != "" && len(name) == len(xs.jwtDrop) && httpparse.EqualFold(name, xs.jwtDrop)
}
