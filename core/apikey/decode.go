package apikey

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DecodeKey decodes one stored API key: what json.Unmarshal into an ApiKey gives (defaults for
// absent fields, unknown fields in Extra), without reflection. Loading a million keys spent most of
// its time in encoding/json; this reads the fields an ApiKey has in one pass over the bytes.
// Anything it does not read the way encoding/json would (escaped strings, fractional or huge
// numbers, duplicate or case-folded names, a value of an unexpected type, invalid UTF-8) sends the
// whole key to json.Unmarshal, so the result, errors included, is always encoding/json's
// (TestDecodeKeyMatchesJSON). raw is only read during the call; the key's strings are views of
// one private copy of it.
func DecodeKey(raw []byte) (ApiKey, error) {
	var k ApiKey
	if decodeFast(raw, &k) {
		return k, nil
	}
	k = ApiKey{}
	if err := json.Unmarshal(raw, &k); err != nil {
		return ApiKey{}, err
	}
	return k, nil
}

// The top-level fields of an ApiKey, as bits of decodeFast's seen mask.
const (
	fClientID = 1 << iota
	fClientSecret
	fClientName
	fDescription
	fAuthorizedEntities
	fEnabled
	fReadOnly
	fAllowClientIDOnly
	fThrottlingQuota
	fDailyQuota
	fMonthlyQuota
	fValidUntil
	fRotation
	fTags
	fMetadata
	fLoc
)

// fieldBit returns the bit of a known top-level field, 0 for another name. A switch, not a map:
// it runs for every member of a million keys at start.
func fieldBit(name string) int {
	switch name {
	case "clientId":
		return fClientID
	case "clientSecret":
		return fClientSecret
	case "clientName":
		return fClientName
	case "description":
		return fDescription
	case "authorizedEntities":
		return fAuthorizedEntities
	case "enabled":
		return fEnabled
	case "readOnly":
		return fReadOnly
	case "allowClientIdOnly":
		return fAllowClientIDOnly
	case "throttlingQuota":
		return fThrottlingQuota
	case "dailyQuota":
		return fDailyQuota
	case "monthlyQuota":
		return fMonthlyQuota
	case "validUntil":
		return fValidUntil
	case "rotation":
		return fRotation
	case "tags":
		return fTags
	case "metadata":
		return fMetadata
	case "_loc":
		return fLoc
	}
	return 0
}

// decodeFast decodes raw into k, reporting false when it cannot do so exactly as UnmarshalJSON
// would (k is then garbage).
func decodeFast(raw []byte, k *ApiKey) bool {
	if !utf8.Valid(raw) {
		return false // encoding/json replaces invalid bytes
	}
	d := scan{s: string(raw)}
	*k = Defaults()
	seen := 0
	var extra map[string]json.RawMessage
	ok := d.members(func(name string) bool {
		bit := fieldBit(name)
		if bit == 0 {
			if _, dup := extra[name]; dup || caseFoldsKnown(name) {
				return false
			}
			start := d.i
			if !d.skip() {
				return false
			}
			if extra == nil {
				extra = map[string]json.RawMessage{}
			}
			extra[name] = json.RawMessage(d.s[start:d.i])
			return true
		}
		if seen&bit != 0 {
			return false // the last one wins in encoding/json: leave that to it
		}
		seen |= bit
		if d.null() {
			return true // keeps the default, as UnmarshalJSON does
		}
		return d.field(bit, k)
	})
	if !ok {
		return false
	}
	d.ws()
	if d.i != len(d.s) {
		return false
	}
	k.Extra = extra
	return true
}

// caseFoldsKnown reports whether name differs from a known field by case only: encoding/json
// matches such a name in nested objects, and UnmarshalJSON keeps it in Extra at the top level.
// Either way the fast path leaves it to encoding/json.
func caseFoldsKnown(name string) bool {
	for _, known := range knownFields {
		if strings.EqualFold(name, known) {
			return true
		}
	}
	return false
}

// field decodes the value of the top-level field bit into k.
func (d *scan) field(bit int, k *ApiKey) bool {
	var ok bool
	switch bit {
	case fClientID:
		k.ClientID, ok = d.str()
	case fClientSecret:
		k.ClientSecret, ok = d.str()
	case fClientName:
		k.ClientName, ok = d.str()
	case fDescription:
		k.Description, ok = d.str()
	case fAuthorizedEntities:
		k.AuthorizedEntities, ok = d.strs()
	case fEnabled:
		k.Enabled, ok = d.bool()
	case fReadOnly:
		k.ReadOnly, ok = d.bool()
	case fAllowClientIDOnly:
		k.AllowClientIDOnly, ok = d.bool()
	case fThrottlingQuota:
		k.ThrottlingQuota, ok = d.int()
	case fDailyQuota:
		k.DailyQuota, ok = d.int()
	case fMonthlyQuota:
		k.MonthlyQuota, ok = d.int()
	case fValidUntil:
		// UnmarshalJSON reads a number as a float64: exact up to 2^53. Larger ones, strings and
		// fractions take encoding/json's path.
		var ms int64
		if ms, ok = d.int(); ok && -1<<53 <= ms && ms <= 1<<53 {
			k.ValidUntil = &ms
		} else {
			ok = false
		}
	case fRotation:
		ok = d.nested(k, rotationFields)
	case fTags:
		k.Tags, ok = d.strs()
	case fMetadata:
		ok = d.metadata(k.Metadata)
	case fLoc:
		ok = d.nested(k, locFields)
	}
	return ok
}

// list reads the items of an array or object whose opening bracket was read, up to close:
// item reads one item.
func (d *scan) list(close byte, item func() bool) bool {
	for first := true; ; first = false {
		d.ws()
		if d.eat(close) {
			return true
		}
		if !first && !(d.eat(',') && d.ws0()) {
			return false
		}
		if !item() {
			return false
		}
	}
}

// colon reads the colon after a member's name, and the blanks around it.
func (d *scan) colon() bool {
	d.ws()
	ok := d.eat(':')
	d.ws()
	return ok
}

// members reads an object, calling member for each member with the scanner on its value; member
// must read the value.
func (d *scan) members(member func(name string) bool) bool {
	d.ws()
	return d.eat('{') && d.list('}', func() bool {
		name, ok := d.str()
		return ok && d.colon() && member(name)
	})
}

// object reads an object into a struct whose members are known: member is called for each known
// one; others are skipped, unless they match a known one by case only or come twice (left to
// encoding/json). With known nil (a map), member is called for every member.
func (d *scan) object(known []string, member func(name string) bool) bool {
	var seen []string
	return d.members(func(name string) bool {
		if known == nil {
			return member(name)
		}
		isKnown := false
		for _, kn := range known {
			if strings.EqualFold(kn, name) {
				if kn != name {
					return false
				}
				isKnown = true
			}
		}
		if !isKnown {
			return d.skip()
		}
		if slices.Contains(seen, name) {
			return false
		}
		seen = append(seen, name)
		return member(name)
	})
}

// The members of the two nested objects of an ApiKey, rotation and _loc.
var (
	rotationFields = []string{"enabled", "rotationEvery", "gracePeriod", "nextSecret"}
	locFields      = []string{"tenant", "teams"}
)

// nested reads the object rotation (known: rotationFields) or _loc (locFields) into k. Their
// member names differ, so one switch serves both.
func (d *scan) nested(k *ApiKey, known []string) bool {
	r, l := &k.Rotation, &k.Loc
	return d.object(known, func(name string) bool {
		if d.null() { // a no-op, except for pointers and slices, which encoding/json sets to nil
			switch name {
			case "nextSecret":
				r.NextSecret = nil
			case "teams":
				l.Teams = nil
			}
			return true
		}
		var ok bool
		switch name {
		case "enabled":
			r.Enabled, ok = d.bool()
		case "rotationEvery":
			r.RotationEvery, ok = d.int()
		case "gracePeriod":
			r.GracePeriod, ok = d.int()
		case "nextSecret":
			var s string
			if s, ok = d.str(); ok {
				r.NextSecret = &s
			}
		case "tenant":
			l.Tenant, ok = d.str()
		case "teams":
			l.Teams, ok = d.strs()
		}
		return ok
	})
}

// metadata decodes an object of strings into m (encoding/json adds to the map it is given).
func (d *scan) metadata(m map[string]string) bool {
	return d.object(nil, func(name string) bool {
		if _, dup := m[name]; dup {
			return false
		}
		v, ok := d.str()
		m[name] = v
		return ok
	})
}

// scan reads JSON from s, a private copy of the input: strings are views of it.
type scan struct {
	s string
	i int
}

func (d *scan) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

// ws0 is ws for use in conditions.
func (d *scan) ws0() bool { d.ws(); return true }

func (d *scan) eat(c byte) bool {
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *scan) lit(w string) bool {
	if strings.HasPrefix(d.s[d.i:], w) {
		d.i += len(w)
		return true
	}
	return false
}

func (d *scan) null() bool { return d.lit("null") }

func (d *scan) bool() (bool, bool) {
	switch {
	case d.lit("true"):
		return true, true
	case d.lit("false"):
		return false, true
	}
	return false, false
}

// str reads a string without escapes (those go to encoding/json).
func (d *scan) str() (string, bool) {
	if !d.eat('"') {
		return "", false
	}
	start := d.i
	for d.i < len(d.s) {
		switch c := d.s[d.i]; {
		case c == '"':
			d.i++
			return d.s[start : d.i-1], true
		case c == '\\' || c < 0x20:
			return "", false
		}
		d.i++
	}
	return "", false
}

// strs reads an array of strings (a fresh slice, never nil).
func (d *scan) strs() ([]string, bool) {
	out := []string{}
	ok := d.eat('[') && d.list(']', func() bool {
		s, ok := d.str()
		out = append(out, s)
		return ok
	})
	return out, ok
}

// int reads an integer literal: JSON's grammar without fraction or exponent, within int64.
func (d *scan) int() (int64, bool) {
	start := d.i
	d.eat('-')
	digits := d.i
	for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
		d.i++
	}
	n := d.i - digits
	if n == 0 || n > 1 && d.s[digits] == '0' {
		return 0, false
	}
	if d.i < len(d.s) && (d.s[d.i] == '.' || d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		return 0, false
	}
	v, err := strconv.ParseInt(d.s[start:d.i], 10, 64)
	return v, err == nil
}

// skip moves past one JSON value, checking it is valid JSON.
func (d *scan) skip() bool {
	if d.i >= len(d.s) {
		return false
	}
	switch c := d.s[d.i]; {
	case c == '"':
		d.i++
		for d.i < len(d.s) {
			switch c := d.s[d.i]; {
			case c == '"':
				d.i++
				return true
			case c < 0x20:
				return false
			case c == '\\':
				if !d.escape() {
					return false
				}
				continue
			}
			d.i++
		}
		return false
	case c == '{':
		d.i++
		return d.list('}', func() bool {
			return d.i < len(d.s) && d.s[d.i] == '"' && d.skip() && d.colon() && d.skip()
		})
	case c == '[':
		d.i++
		return d.list(']', d.skip)
	case c == 't':
		return d.lit("true")
	case c == 'f':
		return d.lit("false")
	case c == 'n':
		return d.null()
	default:
		return d.number()
	}
}

// escape moves past one backslash escape of a string.
func (d *scan) escape() bool {
	if d.i+1 >= len(d.s) {
		return false
	}
	switch d.s[d.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		d.i += 2
		return true
	case 'u':
		if d.i+6 > len(d.s) {
			return false
		}
		for _, h := range []byte(d.s[d.i+2 : d.i+6]) {
			if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
				return false
			}
		}
		d.i += 6
		return true
	}
	return false
}

// number moves past a JSON number (RFC 8259 section 6).
func (d *scan) number() bool {
	d.eat('-')
	digits := func() int {
		n := 0
		for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	start := d.i
	n := digits()
	if n == 0 || n > 1 && d.s[start] == '0' {
		return false
	}
	if d.eat('.') && digits() == 0 {
		return false
	}
	if d.eat('e') || d.eat('E') {
		if !d.eat('+') {
			d.eat('-')
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
