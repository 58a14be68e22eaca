package admin

import (
	"encoding/json"

	"github.com/torii-gateway/torii/core/plugin"
	"github.com/torii-gateway/torii/internal/jsonx"
)

// The jwtVerifiers entities (Otoroshi's global JWT verifiers, /api/verifiers and
// /apis/security.otoroshi.io/v1/jwt-verifiers) are stored like the other export kinds, checked
// field by field when written (plugin.CompileVerifier), and compiled into the snapshot's
// VerifierSet, which the JwtVerification and JwtSigner plugins read.

// arrayJWTVerifiers is the export array of the jwtVerifiers kind.
const arrayJWTVerifiers = "jwtVerifiers"

// checkVerifier checks a jwtVerifiers document: an id, and everything plugin.CompileVerifier
// needs (source, algoSettings, strategy).
func checkVerifier(c *checker, doc map[string]any) {
	checkID(c, doc, "id")
	raw, err := json.Marshal(doc)
	if err != nil {
		c.add("", "cannot encode: %v", err)
		return
	}
	if _, errs := plugin.CompileVerifier(raw); len(errs) > 0 {
		for _, e := range errs {
			if e.Field == "id" {
				continue // checkID said it
			}
			c.add(e.Field, "%s", e.Message)
		}
	}
}

// compileVerifiers compiles the jwtVerifiers of st; errors name the verifier and the field.
func compileVerifiers(st *state) (*plugin.VerifierSet, error) {
	k := kindByArray[arrayJWTVerifiers]
	var docs []json.RawMessage
	var fields []FieldError
	for _, e := range st.ents[k.id].All() {
		if _, errs := plugin.CompileVerifier(e.raw); len(errs) > 0 {
			for _, fe := range errs {
				fields = append(fields, FieldError{Field: jsonx.JoinPath("jwt verifier "+e.id, fe.Field), Message: fe.Message})
			}
			continue
		}
		docs = append(docs, e.raw)
	}
	if len(fields) > 0 {
		return nil, invalidConfig(fields)
	}
	set, err := plugin.NewVerifierSet(docs)
	if err != nil {
		return nil, compileError(err)
	}
	return set, nil
}
