package route_test

import (
	"fmt"
	"time"

	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/httpparse"
)

// The life of a request: match the route, pick a target, rewrite the path, report.
func Example() {
	routes, err := route.DecodeRoutes([]byte(`[{
	  "id": "route_users", "name": "users",
	  "frontend": {"domains": ["api.example.com/users"]},
	  "backend": {"root": "/v2", "targets": [
	    {"id": "a", "hostname": "127.0.0.1", "port": 8081, "weight": 2},
	    {"id": "b", "hostname": "127.0.0.1", "port": 8082}]}}]`))
	if err != nil {
		panic(err)
	}
	reg := route.NewRegistry() // keep it across reloads
	table, err := route.Compile(routes, route.CompileOptions{Registry: reg})
	if err != nil {
		panic(err)
	}

	buf := []byte("GET /users/42?full=1 HTTP/1.1\r\nHost: API.example.com:8080\r\n\r\n")
	var headers [8]httpparse.Header
	req := httpparse.Request{Headers: headers[:0]}
	if _, err := httpparse.ParseRequest(buf, &req, nil); err != nil {
		panic(err)
	}

	c := table.Match(&req, buf)
	for range 3 {
		u, _ := c.Pick(&route.PickInput{Req: &req, Buf: buf})
		u.Acquire()
		path := c.RewritePath(nil, req.Path.Bytes(buf))
		fmt.Printf("%s → %s %s\n", c.Name, u.Addr, path)
		u.Release()
		c.Report(u, true, 3*time.Millisecond)
	}
	// Output:
	// users → 127.0.0.1:8081 /v2/42
	// users → 127.0.0.1:8082 /v2/42
	// users → 127.0.0.1:8081 /v2/42
}
