package route

import (
	"encoding/json"
	"strings"
)

// pluginPrefix is the prefix of Otoroshi's built-in plugin ids.
const pluginPrefix = "cp:otoroshi.next.plugins."

// knownPlugins are the Otoroshi plugins whose behaviour Torii provides: the ones the
// engine runs (OverrideHost, ApikeyCalls, PublicPrivatePaths) and the ones whose effect the
// engine always has (OtoroshiHeadersIn, SendOtoroshiHeadersBack, XForwardedHeaders). A route
// may list any other plugin, including the rest of OTOROSHI.md's list: it is kept and
// round-tripped, compiled into a Step with Supported false, and reported in Table.Warnings,
// so an import report never hides a plugin that would silently do nothing.
var knownPlugins = map[string]bool{
	"OverrideHost":            true,
	"ApikeyCalls":             true,
	"PublicPrivatePaths":      true,
	"OtoroshiHeadersIn":       true,
	"SendOtoroshiHeadersBack": true,
	"XForwardedHeaders":       true,
	"AuthModule":              true,
	"MultiAuthModule":         true,
	// core/bodylimit.go
	"RequestBodyLengthLimiter":  true,
	"ResponseBodyLengthLimiter": true,
	// Run by package core/plugin (which imports this package, so the list
	// is repeated here; core/plugin's TestKnownPlugins keeps both in step).
	"AdditionalHeadersIn": true, "AdditionalHeadersOut": true, "MissingHeadersIn": true, "MissingHeadersOut": true,
	"RemoveHeadersIn": true, "RemoveHeadersOut": true, "HeadersValidation": true,
	"Cors": true, "Redirection": true, "MaintenanceMode": true, "BuildMode": true, "DisableHttp10": true,
	"ReadOnlyCalls": true, "AllowHttpMethods": true, "IpAddressAllowedList": true, "IpAddressBlockList": true,
	"OtoroshiChallenge": true, "OtoroshiInfos": true, "JwtVerification": true, "JwtSigner": true,
	"GzipResponseCompressor": true,
	// Served off the loops by package clientcreds, through a route the admin adds.
	"NgClientCredentials": true,
	// Compiled by this package (canary.go) into a second target pool.
	"CanaryMode": true,
	// core/plugin/clientcert.go (issue 17: mTLS and HTTPS)
	"NgHasClientCertValidator": true, "NgHasClientCertMatchingValidator": true, "ForceHttpsTraffic": true,
}

// Known reports whether Torii runs the built-in plugin named name (short
// name, e.g. "Cors").
func Known(name string) bool { return knownPlugins[name] }

// Step is one enabled plugin of a compiled route, in the order the route lists them.
type Step struct {
	Index     int    // position in Route.Plugins
	ID        string // full plugin id, e.g. "cp:otoroshi.next.plugins.ApikeyCalls"
	Name      string // short name for a built-in plugin ("ApikeyCalls"); the full id otherwise
	Supported bool   // Name is one of the plugins Torii knows
	Include   []string
	Exclude   []string
	Config    json.RawMessage // the plugin's `config` object, untouched
}

// pluginName returns the short name of a built-in plugin id and whether Torii knows it.
func pluginName(id string) (string, bool) {
	name, ok := strings.CutPrefix(id, pluginPrefix)
	if !ok {
		name, ok = strings.CutPrefix(id, "otoroshi.next.plugins.")
	}
	if !ok {
		return id, false
	}
	return name, knownPlugins[name]
}
