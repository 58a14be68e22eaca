package apikey

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
)

// decodeBoth decodes raw with DecodeKey and with encoding/json and fails unless both give the same
// key, or both an error; it reports whether the fast path took it (no fallback).
func decodeBoth(t *testing.T, what string, raw []byte) bool {
	t.Helper()
	want := ApiKey{}
	wantErr := json.Unmarshal(raw, &want)
	got, err := DecodeKey(raw)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%s: DecodeKey error %v, encoding/json error %v\n%s", what, err, wantErr, raw)
	}
	if wantErr != nil {
		return false
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: DecodeKey differs from encoding/json\n got %#v\nwant %#v\n%s", what, fields(got), fields(want), raw)
	}
	var fast ApiKey
	return decodeFast(raw, &fast)
}

// fields prints every field of an ApiKey (its String hides the secret).
func fields(k ApiKey) string {
	type plain ApiKey
	return fmt.Sprintf("%+v", plain(k))
}

// TestDecodeKeyMatchesJSON: the keys of the real Otoroshi exports, random keys with every field
// set, and edge cases decode to what encoding/json gives, and the common shapes take the fast
// path.
func TestDecodeKeyMatchesJSON(t *testing.T) {
	fastN := 0
	for _, file := range []string{"export-relay-demo.json", "export-tunnel-demo.json", "every-kind-export.json", "handwritten-export.json"} {
		data, err := os.ReadFile("../../admin/testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		var export struct {
			ApiKeys []json.RawMessage `json:"apiKeys"`
		}
		if err := json.Unmarshal(data, &export); err != nil {
			t.Fatal(err)
		}
		for i, raw := range export.ApiKeys {
			if decodeBoth(t, fmt.Sprintf("%s apiKeys[%d]", file, i), raw) {
				fastN++
			}
		}
	}
	if fastN == 0 {
		t.Fatal("no key of the real exports took the fast path")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		raw := randomKey(rng)
		if !decodeBoth(t, fmt.Sprintf("random key %d", i), raw) && !strings.Contains(string(raw), `\`) {
			t.Fatalf("random key %d without escapes took the slow path:\n%s", i, raw)
		}
	}
	f := func(raw string) {
		t.Helper()
		decodeBoth(t, raw, []byte(raw))
	}
	f(`{"clientId":"a","validUntil":"2026-01-02T03:04:05Z"}`)
	f(`{"clientId":"a","validUntil":9007199254740993}`)
	f(`{"clientId":"a","validUntil":1.5e12}`)
	f(`{"clientId":"a","clientId":"b"}`)
	f(`{"clientId":"a","ClientId":"b"}`)
	f(`{"clientId":"a\u00e9\n"}`)
	f(`{"clientId":"a","rotation":{"Enabled":true}}`)
	f(`{"clientId":"a","rotation":{"enabled":true,"nextSecret":null,"x":[1,{"y":null}]}}`)
	f(`{"clientId":"a","_loc":{"teams":null}}`)
	f(`{"clientId":"a","metadata":{"k":null}}`)
	f(`{"clientId":"a","metadata":{"k":"1","k":"2"}}`)
	f(`{"clientId":"a","tags":[null]}`)
	f(`{"clientId":"a","throttlingQuota":01}`)
	f(`{"clientId":"a","throttlingQuota":-0}`)
	f(`{"clientId":"a","throttlingQuota":1e3}`)
	f(`{"clientId":"a","throttlingQuota":99999999999999999999}`)
	f(`{"clientId":"a","enabled":"true"}`)
	f(`{"clientId":"a","x":1,}`)
	f(`{"clientId":"a"} x`)
	f(`{"clientId":"a","x":"\q"}`)
	f(`{"clientId":"a","x":-}`)
	f(`{"clientId":"a","x":1.}`)
	f(`{"clientId":"a","x":"\ud800"}`)
	f("{\"clientId\":\"a\xff\"}")
	f(`[]`)
	f(` {"clientId" : "a" , "tags" : [ "x" , "y" ] } `)
	f(`{"clientId":"a","authorizedGroup":"g","authorizedEntities":[]}`)
}

// randomKey is a stored key with every field of ApiKey set to a random non-default value, and some
// unknown fields: a field the fast path dropped or misread would differ from encoding/json.
func randomKey(rng *rand.Rand) []byte {
	word := func() string {
		const chars = "abcdefghijklmnopqrstuvwxyz0123456789-_ é/"
		var b strings.Builder
		for range 1 + rng.IntN(12) {
			b.WriteString(string([]rune(chars)[rng.IntN(len([]rune(chars)))]))
		}
		return b.String()
	}
	words := func() []string {
		out := []string{}
		for range rng.IntN(4) {
			out = append(out, word())
		}
		return out
	}
	meta := map[string]string{}
	for range rng.IntN(4) {
		meta[word()] = word()
	}
	next := word()
	d := map[string]any{
		"clientId": word(), "clientSecret": word(), "clientName": word(), "description": word(),
		"authorizedEntities": []string{"route_" + word(), "group_" + word(), "service_" + word(), word()},
		"enabled":            rng.IntN(2) == 0, "readOnly": rng.IntN(2) == 0, "allowClientIdOnly": rng.IntN(2) == 0,
		"throttlingQuota": rng.Int64N(1 << 40), "dailyQuota": rng.Int64N(1 << 40), "monthlyQuota": -rng.Int64N(1 << 40),
		"validUntil": rng.Int64N(1 << 45),
		"rotation": map[string]any{"enabled": rng.IntN(2) == 0, "rotationEvery": rng.Int64N(1000), "gracePeriod": rng.Int64N(1000),
			"nextSecret": &next, "unknown": []any{1.5, "x", nil, true}},
		"tags": words(), "metadata": meta,
		"_loc":            map[string]any{"tenant": word(), "teams": words()},
		"restrictions":    map[string]any{"enabled": true, "allowed": []any{map[string]any{"path": "/a"}}},
		"authorizedGroup": word(), "bearer": nil, "n": -12.5e-3,
	}
	for name := range d { // drop some fields, to see defaults applied
		if rng.IntN(8) == 0 {
			delete(d, name)
		}
	}
	raw, err := json.Marshal(d)
	if err != nil {
		panic("BUG: " + err.Error())
	}
	if rng.IntN(4) == 0 { // whitespace between tokens
		raw, _ = json.MarshalIndent(d, " ", "\t")
	}
	return raw
}

// TestCompiledKeyFromDecodeKey: a key compiled from DecodeKey is the key compiled from
// encoding/json's decoding, field by field, for random keys.
func TestCompiledKeyFromDecodeKey(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		raw := randomKey(rng)
		var want ApiKey
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		var kw, kg Key
		compileKey(&kw, &want)
		compileKey(&kg, &got)
		if !reflect.DeepEqual(&kw, &kg) {
			t.Fatalf("key %d: compiled keys differ\n got %#v\nwant %#v", i, &kg, &kw)
		}
	}
}

// TestBearerMACIsHMAC: the stack-buffer HMAC of a bearer token is crypto/hmac's, for secrets and
// client ids around the block size.
func TestBearerMACIsHMAC(t *testing.T) {
	for _, n := range []int{0, 1, 31, 63, 64, 65, 100, 185, 186, 200} {
		id, secret := strings.Repeat("i", n), strings.Repeat("s", n)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(bearerPrefix + id))
		if got, want := appendBearerMAC(nil, id, secret), m.Sum(nil); !bytes.Equal(got, want) {
			t.Fatalf("length %d: %x, want %x", n, got, want)
		}
	}
}

// TestFieldBitsCoverKnownFields: every name of knownFields has its own bit.
func TestFieldBitsCoverKnownFields(t *testing.T) {
	seen := 0
	for _, name := range knownFields {
		bit := fieldBit(name)
		if bit == 0 || seen&bit != 0 {
			t.Fatalf("field %s: bit %d (seen %b)", name, bit, seen)
		}
		seen |= bit
	}
}
