package otoroshi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/torii-gateway/torii/internal/jsonx"
)

func TestDescriptorToRoute(t *testing.T) {
	f := func(sd string, domains, targets, plugins string) {
		t.Helper()
		d, err := jsonx.DecodeObject([]byte(sd))
		if err != nil {
			t.Fatal(err)
		}
		r, _ := DescriptorToRoute(d)
		if got := fmt.Sprint(r["frontend"].(map[string]any)["domains"]); got != domains {
			t.Errorf("domains %s, want %s", got, domains)
		}
		var ts []string
		for _, x := range r["backend"].(map[string]any)["targets"].([]any) {
			tm := x.(map[string]any)
			ts = append(ts, fmt.Sprintf("%v:%v/%v", tm["hostname"], tm["port"], tm["tls"]))
		}
		if got := strings.Join(ts, " "); got != targets {
			t.Errorf("targets %s, want %s", got, targets)
		}
		var ps []string
		for _, p := range r["plugins"].([]any) {
			ps = append(ps, strings.TrimPrefix(p.(map[string]any)["plugin"].(string), "cp:otoroshi.next.plugins."))
		}
		if got := strings.Join(ps, " "); got != plugins {
			t.Errorf("plugins %s, want %s", got, plugins)
		}
	}
	// No hosts: subdomain.domain (with env when not prod); https targets default to 443.
	f(`{"id":"s1","subdomain":"api","domain":"oto.tools","env":"prod","targets":[{"host":"backend.local","scheme":"https"}],"publicPatterns":["/.*"],"overrideHost":false}`,
		"[api.oto.tools]", "backend.local:443/true", "")
	f(`{"id":"s2","subdomain":"api","domain":"oto.tools","env":"dev","matchingRoot":"/v1","targets":[{"host":"10.0.0.1:8080","scheme":"http"}],
		"publicPatterns":["/.*"],"privatePatterns":["/admin"],"forceHttps":true,"maintenanceMode":true,"ipFiltering":{"whitelist":["10.0.0.0/8"],"blacklist":[]}}`,
		"[api.dev.oto.tools/v1]", "10.0.0.1:8080/false", "ApikeyCalls ForceHttpsTraffic IpAddressAllowedList MaintenanceMode OverrideHost PublicPrivatePaths")
	// Everything private by default: ApikeyCalls alone.
	f(`{"id":"s3","hosts":["a.com"],"paths":["p/"],"targets":[{"host":"h:1","scheme":"http"}],"enforceSecureCommunication":true,"sendStateChallenge":true,"secComVersion":2,"overrideHost":false}`,
		"[a.com/p]", "h:1/false", "ApikeyCalls OtoroshiChallenge")
}

// A descriptor's enabled legacy gzip becomes GzipResponseCompressor with
// NgGzipConfig's field names (as Otoroshi's fromLegacy).
func TestDescriptorGzip(t *testing.T) {
	d, err := jsonx.DecodeObject([]byte(`{"id":"s","hosts":["a.com"],"targets":[{"host":"h:1","scheme":"http"}],"publicPatterns":["/.*"],
		"gzip":{"enabled":true,"excludedPatterns":["/raw.*"],"whiteList":["text/*"],"blackList":["image/*"],"bufferSize":4096,"chunkedThreshold":1000,"compressionLevel":7}}`))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := DescriptorToRoute(d)
	for _, p := range r["plugins"].([]any) {
		pm := p.(map[string]any)
		if pm["plugin"] != "cp:otoroshi.next.plugins.GzipResponseCompressor" {
			continue
		}
		got := fmt.Sprint(pm["config"])
		want := "map[allowed_list:[text/*] blocked_list:[image/*] buffer_size:4096 chunked_threshold:1000 compression_level:7 excluded_patterns:[/raw.*]]"
		if got != want {
			t.Errorf("config %s, want %s", got, want)
		}
		return
	}
	t.Errorf("no GzipResponseCompressor in %v", r["plugins"])
}
