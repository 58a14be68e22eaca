package otoroshi

import (
	"encoding/json"
	"net"
	"sort"
	"strconv"
	"strings"
)

// descriptorMapped are the ServiceDescriptor fields that DescriptorToRoute converts (or that carry no
// configuration: identity, cosmetics, and values Torii's behaviour already matches).
var descriptorMapped = map[string]bool{
	"id": true, "name": true, "description": true, "enabled": true, "groupId": true, "groups": true,
	"tags": true, "metadata": true, "_loc": true, "hosts": true, "paths": true, "matchingRoot": true,
	"env": true, "domain": true, "subdomain": true, "stripPath": true, "root": true, "targets": true,
	"targetsLoadBalancing": true, "publicPatterns": true, "privatePatterns": true, "strictlyPrivate": true,
	"additionalHeaders": true, "additionalHeadersOut": true, "missingOnlyHeadersIn": true,
	"missingOnlyHeadersOut": true, "removeHeadersIn": true, "removeHeadersOut": true, "matchingHeaders": true,
	"headersVerification": true, "ipFiltering": true, "maintenanceMode": true, "buildMode": true,
	"redirection": true, "overrideHost": true, "xForwardedHeaders": true, "forceHttps": true,
	"readOnly": true, "allowHttp10": true, "sendOtoroshiHeadersBack": true, "clientConfig": true,
	"healthCheck": true, "enforceSecureCommunication": true, "sendStateChallenge": true, "secComVersion": true,
	"secComTtl": true, "sendInfoToken": true, "cors": true, "gzip": true,
	// Legacy flags with no effect on how a request is proxied.
	"userFacing": true, "useAkkaHttpClient": true, "useNewWSClient": true, "logAnalyticsOnServer": true,
	"handleLegacyDomain": true, "issueCert": true, "issueCertCA": true, "letsEncrypt": true,
	"detectApiKeySooner": true, "localHost": true, "localScheme": true, "secComInfoTokenVersion": true,
	// The exchange protocol's settings, carried into OtoroshiChallenge and OtoroshiInfos.
	"secComHeaders": true, "secComSettings": true, "secComUseSameAlgo": true, "secComExcludedPatterns": true,
	"secComAlgoChallengeOtoToBack": true, "secComAlgoChallengeBackToOto": true, "secComAlgoInfoToken": true,
}

// DescriptorToRoute converts a legacy Otoroshi ServiceDescriptor into a Route document. It maps
// hosts, paths, targets, stripPath, root, public and private patterns, headers and the common
// flags into plugins, and returns the descriptor fields it could not carry over (with a value that
// configures something).
func DescriptorToRoute(sd map[string]any) (route map[string]any, unsupported []string) {
	str := func(k string) string { s, _ := sd[k].(string); return s }
	flag := func(k string) bool { b, _ := sd[k].(bool); return b }
	strs := func(v any) []any {
		out := []any{}
		a, _ := v.([]any)
		for _, e := range a {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	obj := func(v any) map[string]any {
		m, _ := v.(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		return m
	}

	hosts := strs(sd["hosts"])
	if len(hosts) == 0 {
		h := str("domain")
		if sub := str("subdomain"); sub != "" {
			if env := str("env"); env != "" && env != "prod" {
				h = sub + "." + env + "." + h
			} else {
				h = sub + "." + h
			}
		}
		if h != "" {
			hosts = []any{h}
		}
	}
	paths := strs(sd["paths"])
	if len(paths) == 0 {
		if mr := str("matchingRoot"); mr != "" {
			paths = []any{mr}
		}
	}
	domains := []any{}
	for _, h := range hosts {
		if len(paths) == 0 {
			domains = append(domains, h)
			continue
		}
		for _, p := range paths {
			ps := p.(string)
			if !strings.HasPrefix(ps, "/") {
				ps = "/" + ps
			}
			domains = append(domains, h.(string)+strings.TrimSuffix(ps, "/"))
		}
	}

	targets := []any{}
	tl, _ := sd["targets"].([]any)
	for i, t := range tl {
		tm := obj(t)
		for k, v := range tm {
			switch k {
			case "host", "scheme", "weight", "protocol", "ipAddress", "tags", "metadata":
			case "predicate":
				if p, _ := v.(map[string]any); p["type"] != "AlwaysMatch" && !IsInert(v) {
					unsupported = append(unsupported, "targets["+strconv.Itoa(i)+"].predicate")
				}
			default:
				if !IsInert(v) {
					unsupported = append(unsupported, "targets["+strconv.Itoa(i)+"]."+k)
				}
			}
		}
		hostport, _ := tm["host"].(string)
		scheme, _ := tm["scheme"].(string)
		// "ahttps"/"ahttp" are the same schemes served by Otoroshi's alternate HTTP client:
		// a TLS target stays a TLS target.
		tls := scheme == "https" || scheme == "ahttps"
		host, portStr, err := net.SplitHostPort(hostport)
		port := 80
		if tls {
			port = 443
		}
		if err != nil {
			host = hostport
		} else if p, err := strconv.Atoi(portStr); err == nil {
			port = p
		}
		target := map[string]any{
			"id": "target_" + strconv.Itoa(i+1), "hostname": host, "port": json.Number(strconv.Itoa(port)),
			"tls": tls, "weight": json.Number("1"), "protocol": "HTTP/1.1", "backup": false,
		}
		if w, ok := tm["weight"].(json.Number); ok {
			target["weight"] = w
		}
		if p, ok := tm["protocol"].(string); ok && p != "" {
			target["protocol"] = p
		}
		if ip, ok := tm["ipAddress"].(string); ok && ip != "" {
			target["ip_address"] = ip
		}
		if mc, ok := tm["mtlsConfig"].(map[string]any); ok && tls {
			// Otoroshi's MtlsConfig, as the NG target's tls_config.
			b := func(f string) bool { v, _ := mc[f].(bool); return v }
			ids := func(f string) []any { v, _ := mc[f].([]any); return append([]any{}, v...) }
			target["tls_config"] = map[string]any{"enabled": b("mtls"), "loose": b("loose"), "trust_all": b("trustAll"),
				"certs": ids("certs"), "trusted_certs": ids("trustedCerts")}
		}
		targets = append(targets, target)
	}

	client := map[string]any{}
	cc := obj(sd["clientConfig"])
	for camel, snake := range map[string]string{"retries": "retries", "maxErrors": "max_errors",
		"retryInitialDelay": "retry_initial_delay", "backoffFactor": "backoff_factor",
		"connectionTimeout": "connection_timeout", "idleTimeout": "idle_timeout", "callTimeout": "call_timeout",
		"callAndStreamTimeout": "call_and_stream_timeout", "globalTimeout": "global_timeout",
		"sampleInterval": "sample_interval"} {
		if v, ok := cc[camel].(json.Number); ok {
			client[snake] = v
		}
	}
	lb := obj(sd["targetsLoadBalancing"])
	if _, ok := lb["type"]; !ok {
		lb = map[string]any{"type": "RoundRobin"}
	}
	var healthCheck any
	if hc := obj(sd["healthCheck"]); hc["enabled"] == true {
		healthCheck = map[string]any{"enabled": true, "url": hc["url"]}
	}
	root := str("root")
	if root == "" {
		root = "/"
	}
	groups := strs(sd["groups"])
	if len(groups) == 0 {
		if g := str("groupId"); g != "" {
			groups = []any{g}
		} else {
			groups = []any{"default"}
		}
	}
	enabled := true
	if b, ok := sd["enabled"].(bool); ok {
		enabled = b
	}
	headers := obj(sd["matchingHeaders"])

	var plugins []any
	plugin := func(name string, include, exclude []any, config map[string]any) {
		if include == nil {
			include = []any{}
		}
		if exclude == nil {
			exclude = []any{}
		}
		plugins = append(plugins, map[string]any{"enabled": true, "plugin": "cp:otoroshi.next.plugins." + name,
			"include": include, "exclude": exclude, "config": config})
	}
	if flag("forceHttps") {
		plugin("ForceHttpsTraffic", nil, nil, map[string]any{})
	}
	if flag("maintenanceMode") {
		plugin("MaintenanceMode", nil, nil, map[string]any{})
	}
	if flag("buildMode") {
		plugin("BuildMode", nil, nil, map[string]any{})
	}
	if red := obj(sd["redirection"]); red["enabled"] == true {
		plugin("Redirection", nil, nil, map[string]any{"code": red["code"], "to": red["to"]})
	}
	if ipf := obj(sd["ipFiltering"]); true {
		if wl := strs(ipf["whitelist"]); len(wl) > 0 {
			plugin("IpAddressAllowedList", nil, nil, map[string]any{"addresses": wl})
		}
		if bl := strs(ipf["blacklist"]); len(bl) > 0 {
			plugin("IpAddressBlockList", nil, nil, map[string]any{"addresses": bl})
		}
	}
	if b, ok := sd["allowHttp10"].(bool); ok && !b {
		plugin("DisableHttp10", nil, nil, map[string]any{})
	}
	if flag("readOnly") {
		plugin("ReadOnlyCalls", nil, nil, map[string]any{})
	}
	// Legacy access rule: a path needs an API key unless it matches a public pattern and no
	// private pattern, which is what ApikeyCalls with PublicPrivatePaths does.
	public, private := strs(sd["publicPatterns"]), strs(sd["privatePatterns"])
	allPublic := false
	for _, p := range public {
		if p == "/.*" {
			allPublic = true
		}
	}
	if !allPublic || len(private) > 0 {
		plugin("ApikeyCalls", nil, nil, map[string]any{})
		if len(public) > 0 || len(private) > 0 {
			plugin("PublicPrivatePaths", nil, nil, map[string]any{"strict": flag("strictlyPrivate"),
				"public_patterns": public, "private_patterns": private})
		}
	}
	if b, ok := sd["overrideHost"].(bool); !ok || b {
		plugin("OverrideHost", nil, nil, map[string]any{})
	}
	if flag("xForwardedHeaders") {
		plugin("XForwardedHeaders", nil, nil, map[string]any{})
	}
	for field, name := range map[string]string{"additionalHeaders": "AdditionalHeadersIn",
		"additionalHeadersOut": "AdditionalHeadersOut", "missingOnlyHeadersIn": "MissingHeadersIn",
		"missingOnlyHeadersOut": "MissingHeadersOut", "headersVerification": "HeadersValidation"} {
		if h := obj(sd[field]); len(h) > 0 {
			plugin(name, nil, nil, map[string]any{"headers": h})
		}
	}
	for field, name := range map[string]string{"removeHeadersIn": "RemoveHeadersIn", "removeHeadersOut": "RemoveHeadersOut"} {
		if h := strs(sd[field]); len(h) > 0 {
			plugin(name, nil, nil, map[string]any{"header_names": h})
		}
	}
	if flag("sendOtoroshiHeadersBack") {
		plugin("SendOtoroshiHeadersBack", nil, nil, map[string]any{})
	}
	// The exchange protocol, as Otoroshi's NgRoute.fromServiceDescriptor converts it: the
	// challenge when enforceSecureCommunication and sendStateChallenge, the info token when
	// sendInfoToken; NG configs count the ttl in seconds (secComTtl is milliseconds).
	ttl := int64(30)
	if n, ok := sd["secComTtl"].(json.Number); ok {
		if ms, err := n.Int64(); err == nil && ms > 0 {
			ttl = max(ms/1000, 1)
		}
	}
	secHeaders := obj(sd["secComHeaders"])
	headerName := func(field, def string) string {
		if s, ok := secHeaders[field].(string); ok && strings.TrimSpace(s) != "" {
			return s
		}
		return def
	}
	algo := func(own string) any {
		if b, ok := sd["secComUseSameAlgo"].(bool); !ok || b {
			own = "secComSettings"
		}
		if a := obj(sd[own]); len(a) > 0 {
			return a
		}
		return map[string]any{"type": "HSAlgoSettings", "size": json.Number("512"), "secret": "${config.app.claim.sharedKey}", "base64": false}
	}
	if flag("enforceSecureCommunication") && flag("sendStateChallenge") {
		version := "V2"
		if n, _ := sd["secComVersion"].(json.Number); n.String() == "1" {
			version = "V1"
		}
		if s, _ := sd["secComVersion"].(string); s == "V1" {
			version = "V1"
		}
		exclude := strs(sd["secComExcludedPatterns"])
		plugin("OtoroshiChallenge", nil, exclude, map[string]any{"version": version, "ttl": json.Number(strconv.FormatInt(ttl, 10)),
			"request_header_name":  headerName("stateRequestName", "Otoroshi-State"),
			"response_header_name": headerName("stateResponseName", "Otoroshi-State-Resp"),
			"algo_to_backend":      algo("secComAlgoChallengeOtoToBack"), "algo_from_backend": algo("secComAlgoChallengeBackToOto")})
	}
	if flag("sendInfoToken") {
		version := "Latest"
		if v, _ := sd["secComInfoTokenVersion"].(string); v != "" {
			version = v
		}
		plugin("OtoroshiInfos", nil, nil, map[string]any{"version": version, "ttl": json.Number(strconv.FormatInt(ttl, 10)),
			"header_name": headerName("claimRequestName", "Otoroshi-Claim"), "algo": algo("secComAlgoInfoToken")})
	}
	if c := obj(sd["cors"]); c["enabled"] == true {
		plugin("Cors", nil, nil, c)
	}
	if g := obj(sd["gzip"]); g["enabled"] == true {
		// The legacy GzipConfig's fields, under NgGzipConfig's names (fromLegacy).
		ng := map[string]any{}
		for legacy, name := range map[string]string{"excludedPatterns": "excluded_patterns", "whiteList": "allowed_list",
			"blackList": "blocked_list", "bufferSize": "buffer_size", "chunkedThreshold": "chunked_threshold",
			"compressionLevel": "compression_level"} {
			if v, ok := g[legacy]; ok {
				ng[name] = v
			}
		}
		plugin("GzipResponseCompressor", nil, nil, ng)
	}
	if plugins == nil {
		plugins = []any{}
	}
	// Plugins are built from Go maps with random iteration order; sort for a stable result.
	sort.SliceStable(plugins, func(i, j int) bool {
		a, b := plugins[i].(map[string]any)["plugin"].(string), plugins[j].(map[string]any)["plugin"].(string)
		return a < b
	})

	metadata := obj(sd["metadata"])
	route = map[string]any{
		"id": sd["id"], "name": sd["name"], "description": sd["description"], "enabled": enabled,
		"groups": groups, "tags": strs(sd["tags"]), "metadata": metadata,
		"frontend": map[string]any{"domains": domains, "strip_path": sd["stripPath"] != false, "exact": false,
			"headers": headers, "query": map[string]any{}, "methods": []any{}},
		"backend": map[string]any{"targets": targets, "root": root, "rewrite": false, "load_balancing": lb,
			"client": client, "health_check": healthCheck},
		"plugins": plugins,
	}
	if loc, ok := sd["_loc"]; ok {
		route["_loc"] = loc
	}
	if route["description"] == nil {
		route["description"] = ""
	}
	if route["name"] == nil {
		route["name"] = sd["id"]
	}
	secCom := flag("enforceSecureCommunication") || flag("sendInfoToken")
	for k, v := range sd {
		if !secCom && strings.HasPrefix(k, "secCom") {
			continue // the exchange protocol is off: its settings configure nothing
		}
		if k == "apiKeyConstraints" && apiKeyConstraintsDefault(v) {
			continue
		}
		if !descriptorMapped[k] && !IsInert(v) {
			unsupported = append(unsupported, k)
		}
	}
	for k, v := range cc {
		if _, ok := map[string]bool{"retries": true, "maxErrors": true, "retryInitialDelay": true, "backoffFactor": true,
			"connectionTimeout": true, "idleTimeout": true, "callTimeout": true, "callAndStreamTimeout": true,
			"globalTimeout": true, "sampleInterval": true, "useCircuitBreaker": true}[k]; !ok && !IsInert(v) {
			unsupported = append(unsupported, "clientConfig."+k)
		}
	}
	sort.Strings(unsupported)
	return route, unsupported
}

// IsInert reports whether a value configures nothing: null, false, "", an empty array or object,
// or an object with "enabled": false or whose fields are all inert.
func IsInert(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case bool:
		return !t
	case string:
		return t == ""
	case []any:
		return len(t) == 0
	case map[string]any:
		if e, ok := t["enabled"].(bool); ok && !e {
			return true
		}
		for _, e := range t {
			if !IsInert(e) {
				return false
			}
		}
		return true
	}
	return false
}

// apiKeyConstraintsDefault reports whether a descriptor's apiKeyConstraints only has Otoroshi's
// defaults (every extraction method on, default header names, no routing constraint), which is
// what Torii does.
func apiKeyConstraintsDefault(v any) bool {
	m, _ := v.(map[string]any)
	for k, e := range m {
		sub, _ := e.(map[string]any)
		if k == "routing" {
			if !IsInert(e) {
				return false
			}
			continue
		}
		for f, x := range sub {
			switch f {
			case "enabled", "secretSigned", "keyPairSigned":
				if x != true {
					return false
				}
			case "includeRequestAttributes":
				if x != false {
					return false
				}
			default:
				if x != nil {
					return false
				}
			}
		}
	}
	return true
}
