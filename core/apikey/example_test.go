package apikey_test

import (
	"fmt"
	"time"

	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/httpparse"
)

// The whole flow: keys and policies are compiled off the event loops and
// published in the snapshot; each loop owns a Scratch; quota counters live
// for the life of the process.
func Example() {
	keys, err := apikey.DecodeKeys([]byte(`[{"clientId":"abc","clientSecret":"s3cr3t","clientName":"demo",
		"authorizedEntities":["group_default"],"throttlingQuota":2}]`))
	if err != nil {
		panic(err)
	}
	counters := quota.New(quota.Options{}) // once per process
	set, err := apikey.CompileWith(keys, apikey.CompileOptions{Counters: counters})
	if err != nil {
		panic(err)
	}
	policy, err := apikey.ParsePolicy(nil, []byte(`{"public_patterns":["/health"]}`))
	if err != nil {
		panic(err)
	}
	sc := apikey.NewScratch() // once per event loop

	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, head := range []string{
		"GET /health HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /users HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /users HTTP/1.1\r\nHost: h\r\nAuthorization: Basic YWJjOnMzY3IzdA==\r\n\r\n",
		"GET /users HTTP/1.1\r\nHost: h\r\nOtoroshi-Client-Id: abc\r\nOtoroshi-Client-Secret: s3cr3t\r\n\r\n",
		"GET /users HTTP/1.1\r\nHost: h\r\nOtoroshi-Client-Id: abc\r\nOtoroshi-Client-Secret: s3cr3t\r\n\r\n",
	} {
		buf := []byte(head)
		req := httpparse.Request{Headers: make([]httpparse.Header, 0, 16)}
		if _, err := httpparse.ParseRequest(buf, &req, nil); err != nil {
			panic(err)
		}
		res, rej := policy.Check(set, counters, sc, &req, buf, "route_1", []string{"default"}, now)
		switch {
		case rej == apikey.ErrTooManyRequests:
			fmt.Println(rej.Status, rej.Cause, "Retry-After:", res.RetryAfter)
		case rej != nil:
			fmt.Println(rej.Status, rej.Cause)
		case res.Key == nil:
			fmt.Println("public")
		default:
			fmt.Printf("%s via %s, drop headers %v, %q\n", res.Key, res.Method, res.Dropped(), apikey.AppendQuotaHeaders(nil, res.Rem))
		}
	}
	// Output:
	// public
	// 400 errors.no.api.key
	// abc via basic, drop headers [1], "Otoroshi-Daily-Calls-Remaining: 9999999\r\nOtoroshi-Monthly-Calls-Remaining: 9999999\r\n"
	// abc via custom_headers, drop headers [1 2], "Otoroshi-Daily-Calls-Remaining: 9999998\r\nOtoroshi-Monthly-Calls-Remaining: 9999998\r\n"
	// 429 errors.too.much.requests Retry-After: 10
}
