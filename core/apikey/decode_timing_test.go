package apikey

import (
	"encoding/json"
	"testing"
)

// scaleKeyJSON is a stored key as bench/scalegen writes them (defaults filled), and realKeyJSON
// one of the real Otoroshi export's keys.
const (
	scaleKeyJSON = `{"_loc":{"teams":["default"],"tenant":"default"},"allowClientIdOnly":false,"authorizedEntities":["route_route_0000005","group_default"],"clientId":"key0000005xxxxxx","clientName":"customer 5","clientSecret":"secret-0000005-0-abcdefghijklmnop","dailyQuota":10000000,"description":"","enabled":true,"metadata":{"plan":"basic"},"monthlyQuota":10000000,"readOnly":false,"tags":["generated"],"throttlingQuota":100,"validUntil":null}`
	realKeyJSON  = `{"_loc": {"tenant": "default", "teams": ["default"]}, "clientId": "xtGPnsRDlasLJEnJ", "clientSecret": "qpg5Rl9TENtBAycCTCk6qnLaGAhTdsNM2x9UvInH5j1SCoV112WtsN6j45wa93Mu", "clientName": "default-apikey", "description": "the default apikey", "authorizedGroup": "default", "authorizedEntities": ["group_default"], "enabled": true, "readOnly": false, "allowClientIdOnly": false, "throttlingQuota": 10000000, "dailyQuota": 10000000, "monthlyQuota": 10000000, "constrainedServicesOnly": false, "restrictions": {"enabled": false, "allowLast": true, "allowed": [], "forbidden": [], "notFound": []}, "rotation": {"enabled": false, "rotationEvery": 744, "gracePeriod": 168, "nextSecret": null}, "validUntil": null, "tags": [], "metadata": {}}`
)

// BenchmarkDecodeKey: DecodeKey against the baseline, encoding/json (ApiKey.UnmarshalJSON), then
// the whole compile of one key (decode, validate, compile) as loading does it.
func BenchmarkDecodeKey(b *testing.B) {
	for _, c := range []struct{ name, raw string }{{"scale", scaleKeyJSON}, {"real", realKeyJSON}} {
		raw := []byte(c.raw)
		b.Run(c.name+"/DecodeKey", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := DecodeKey(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				var k ApiKey
				if err := json.Unmarshal(raw, &k); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/CompileKey", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := CompileKey(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
