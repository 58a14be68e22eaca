package admin

import (
	"testing"

	"github.com/torii-gateway/torii/core/route"
)

// TestClusterCompilerUnresolvableName: a worker compiles a leader's state whose target name does
// not resolve (RFC 6761 .invalid) into a down target, as the leader does, instead of refusing it.
func TestClusterCompilerUnresolvableName(t *testing.T) {
	cc := NewClusterCompiler(nil, nil, nil)
	defer cc.Close()
	out, err := cc.Compile(map[string][]byte{
		clusterPrefix(kinds[kRoutes]) + "r1": []byte(`{"id":"r1","name":"r1","frontend":{"domains":["a.example.com"]},
			"backend":{"targets":[{"id":"t1","hostname":"backend.torii-test.invalid","port":8080},{"id":"t2","hostname":"127.0.0.1","port":8081}]}}`),
	})
	if err != nil {
		t.Fatalf("state refused: %v", err)
	}
	ups := out.Routes.Route("r1").Upstreams()
	if ups[0].Down != route.DownUnresolved || ups[1].Down != "" {
		t.Fatalf("targets down %q %q", ups[0].Down, ups[1].Down)
	}
}
