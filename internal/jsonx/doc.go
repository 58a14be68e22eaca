// Package jsonx holds the JSON helpers of Torii's admin side: a strict decoder (numbers kept as
// json.Number, duplicate keys and deep nesting refused), a canonical encoder (sorted keys, no HTML
// escaping) with strong ETags, deep copies, RFC 7396 merge patches and RFC 6902 JSON Patches over
// the map[string]any / []any values the decoder produces.
//
// # Caveats
//
// Every function is safe to call from any goroutine on values it does not share. Patch and
// MergePatch never modify their inputs; Decode's results own their memory. Values must be made of
// map[string]any, []any, string, json.Number, bool and nil, as Decode produces them.
package jsonx
