package plugin

import (
	"github.com/torii-gateway/torii/core/event"
	"strings"
	"unicode/utf8"

	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/route"
)

// infos is OtoroshiInfos: the Otoroshi-Claim token describing the caller.
type infos struct {
	legacy    bool
	ttl       int64 // seconds
	name      string
	lower     string
	aud       string // JSON-quoted route name
	algo      *Algo
	addFields []addField // Latest only, as Otoroshi
}

type addField struct {
	name  string // JSON-quoted
	value Expr
}

func compileInfos(f *fields, rt *route.Compiled) *infos {
	in := &infos{ttl: 30, name: HeaderClaim}
	switch v := f.str("version", "Latest"); v {
	case "Latest", "latest":
	case "Legacy", "legacy":
		in.legacy = true
	default:
		f.fail("version", "must be Latest or Legacy, got %q (the Url version is not supported)", v)
	}
	f.get("ttl", &in.ttl)
	if in.ttl <= 0 {
		f.fail("ttl", "must be > 0 seconds, got %d", in.ttl)
	}
	if s := strings.TrimSpace(f.str("header_name", "")); s != "" {
		in.name = s
	}
	if !validFieldName(in.name) {
		f.fail("header_name", "%q is not a valid header name", in.name)
	}
	in.lower = strings.ToLower(in.name)
	add := f.headers("add_fields")
	for _, k := range sortedHeaders(add) {
		in.addFields = append(in.addFields, addField{name: quoteJSON(k), value: f.expr("add_fields."+k, add[k])})
	}
	var proj map[string]any
	if f.get("projection", &proj) && len(proj) > 0 {
		f.fail("projection", "projections are not supported by Torii; remove it or leave it {}")
	}
	in.algo = algoField(f, "algo", true)
	in.aud = quoteJSON(rt.Name)
	if in.algo == nil {
		return nil
	}
	return in
}

// appendClaim appends the Otoroshi-Claim field.
func (in *infos) appendClaim(dst []byte, x *Ctx) []byte {
	sp := getScratch()
	p := in.payload(*sp, x)
	dst = append(dst, in.name...)
	dst = append(dst, ": "...)
	dst, _ = in.algo.AppendToken(dst, p)
	*sp = p
	putScratch(sp)
	return append(dst, "\r\n"...)
}

// payload builds the claim in Otoroshi's shape (utils/infotoken.scala).
//
// Latest: sub is the user's email, the key's clientName or "public", then
// access_type (user, apikey or public), user (privateapp.User.LightJSON),
// apikey {clientId, clientName, metadata, tags} and the add_fields. Legacy: sub is "apikey:<clientId>" (or "--"), then name,
// user_id, each metadata entry at the top level, and metadata, tags and
// apikey as JSON text; for a user, sub is "pa:<email>", then email, name and
// user as JSON text.
func (in *infos) payload(p []byte, x *Ctx) []byte {
	k := x.Key
	now := nowOr(x.Now)
	u := x.User
	if !in.legacy {
		sub := "public"
		switch {
		case u != nil:
			sub = u.Email
		case k != nil:
			sub = k.ClientName
		}
		p = appendClaimHead(p, sub, in.aud, now, in.ttl)
		switch {
		case u != nil && k != nil:
			p = append(p, `,"access_type":"both","user":`...)
			p = append(p, u.LightJSON()...)
			p = append(p, `,"apikey":`...)
			p = appendLightJSON(p, k)
		case u != nil:
			p = append(p, `,"access_type":"user","user":`...)
			p = append(p, u.LightJSON()...)
		case k == nil:
			p = append(p, `,"access_type":"public"`...)
		default:
			p = append(p, `,"access_type":"apikey","apikey":`...)
			p = appendLightJSON(p, k)
		}
		var scratch [256]byte
		for i := range in.addFields {
			a := &in.addFields[i]
			p = append(p, ',')
			p = append(p, a.name...)
			p = append(p, ':')
			p = appendJSONString(p, string(a.value.Append(scratch[:0], x)))
		}
		return append(p, '}')
	}
	if u != nil {
		var subBuf [128]byte
		sub := append(append(subBuf[:0], "pa:"...), u.Email...)
		p = appendClaimHead(p, string(sub), in.aud, now, in.ttl)
		p = append(p, `,"email":`...)
		p = appendJSONString(p, u.Email)
		p = append(p, `,"name":`...)
		p = appendJSONString(p, u.Name)
		p = append(p, `,"user":`...)
		return append(appendJSONBytes(p, u.LightJSON()), '}')
	}
	if k == nil {
		p = appendClaimHead(p, "--", in.aud, now, in.ttl)
		return append(p, '}')
	}
	var subBuf [128]byte
	sub := append(append(subBuf[:0], "apikey:"...), k.ClientID...)
	p = appendClaimHead(p, string(sub), in.aud, now, in.ttl)
	p = append(p, `,"name":`...)
	p = appendJSONString(p, k.ClientName)
	p = append(p, `,"user_id":`...)
	p = appendJSONString(p, k.ClientID)
	meta := k.Metadata()
	for mk, mv := range meta.All() {
		p = append(p, ',')
		p = appendJSONString(p, mk)
		p = append(p, ':')
		p = appendJSONString(p, mv)
	}
	// metadata, tags and apikey are JSON documents in strings.
	start := len(p)
	p = appendMetadata(p, meta)
	p = appendStringified(p, `,"metadata":`, start)
	start = len(p)
	p = appendTags(p, k.Tags())
	p = appendStringified(p, `,"tags":`, start)
	start = len(p)
	p = appendLightJSON(p, k)
	p = appendStringified(p, `,"apikey":`, start)
	return append(p, '}')
}

// appendStringified moves the JSON document p[start:] to the end of p as a
// JSON string, preceded by prefix, and drops the original.
func appendStringified(p []byte, prefix string, start int) []byte {
	doc := len(p) - start
	p = append(p, prefix...)
	p = appendJSONBytes(p, p[start:start+doc])
	n := copy(p[start:], p[start+doc:])
	return p[:start+n]
}

// appendLightJSON appends Otoroshi's ApiKey.lightJson.
func appendLightJSON(p []byte, k *apikey.Key) []byte {
	p = append(p, `{"clientId":`...)
	p = appendJSONString(p, k.ClientID)
	p = append(p, `,"clientName":`...)
	p = appendJSONString(p, k.ClientName)
	p = append(p, `,"metadata":`...)
	p = appendMetadata(p, k.Metadata())
	p = append(p, `,"tags":`...)
	p = appendTags(p, k.Tags())
	return append(p, '}')
}

func appendMetadata(p []byte, m event.Pairs) []byte {
	p = append(p, '{')
	first := true
	for k, v := range m.All() {
		if !first {
			p = append(p, ',')
		}
		first = false
		p = appendJSONString(p, k)
		p = append(p, ':')
		p = appendJSONString(p, v)
	}
	return append(p, '}')
}

func appendTags(p []byte, tags []string) []byte {
	p = append(p, '[')
	for i, t := range tags {
		if i > 0 {
			p = append(p, ',')
		}
		p = appendJSONString(p, t)
	}
	return append(p, ']')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal. No allocation.
func appendJSONString(p []byte, s string) []byte {
	p = append(p, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				p = append(p, '\\', c)
			case c < 0x20:
				switch c {
				case '\n':
					p = append(p, '\\', 'n')
				case '\r':
					p = append(p, '\\', 'r')
				case '\t':
					p = append(p, '\\', 't')
				default:
					p = append(p, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
				}
			default:
				p = append(p, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			p = append(p, `\ufffd`...)
		} else {
			p = append(p, s[i:i+size]...)
		}
		i += size
	}
	return append(p, '"')
}

// appendJSONBytes is appendJSONString for bytes that may alias p: the
// source is read before p grows past it, so it is copied through a small
// stack window.
func appendJSONBytes(p []byte, b []byte) []byte {
	var tmp [512]byte
	if len(b) <= len(tmp) {
		n := copy(tmp[:], b)
		return appendJSONString(p, unsafeString(tmp[:n]))
	}
	return appendJSONString(p, string(b))
}
