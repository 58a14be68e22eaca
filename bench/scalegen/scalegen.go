// Package scalegen generates Torii configurations at scale, 100k routes and 1M API keys, for
// the scale benchmarks (make bench-scale), the UI's browser test at scale and the bench/scale
// command. Route i answers the domain r<i>.scale.test/api and sends to 127.0.0.1:10000+i%50000;
// key i is authorized on route i%routes and on the default group. Generation is deterministic.
//
// # Caveats
//
// The documents are fresh maps on every call: callers may change them.
package scalegen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"path/filepath"

	"github.com/torii-gateway/torii/admin"
)

// RouteID and KeyID are the ids of generated route and key i.
func RouteID(i int) string { return fmt.Sprintf("route_%07d", i) }

// KeyID is the client id of generated key i.
func KeyID(i int) string { return fmt.Sprintf("key%07dxxxxxx", i) }

// Route returns generated route i, an Otoroshi route document.
func Route(i int) map[string]any {
	return map[string]any{
		"id": RouteID(i), "name": fmt.Sprintf("generated route %d", i), "enabled": true,
		"frontend": map[string]any{"domains": []any{fmt.Sprintf("r%d.scale.test/api", i)}},
		"backend": map[string]any{"targets": []any{map[string]any{"id": "t1", "hostname": "127.0.0.1",
			"port": float64(10000 + i%50000)}}},
	}
}

// Key returns generated key i of a configuration with routes routes.
func Key(i, routes int) map[string]any {
	return map[string]any{
		"clientId": KeyID(i), "clientSecret": fmt.Sprintf("secret-%07d-abcdefghijklmnop", i),
		"clientName": fmt.Sprintf("customer %d", i), "enabled": true,
		"authorizedEntities": []any{"route_" + RouteID(i%max(routes, 1)), "group_default"},
		"throttlingQuota":    float64(100), "metadata": map[string]any{"plan": "basic"}, "tags": []any{"generated"},
	}
}

// Routes yields routes [0, n).
func Routes(n int) iter.Seq[map[string]any] {
	return func(yield func(map[string]any) bool) {
		for i := range n {
			if !yield(Route(i)) {
				return
			}
		}
	}
}

// Keys yields keys [0, n) of a configuration with routes routes.
func Keys(n, routes int) iter.Seq[map[string]any] {
	return func(yield func(map[string]any) bool) {
		for i := range n {
			if !yield(Key(i, routes)) {
				return
			}
		}
	}
}

// Load stores routes routes and keys keys into the database of dataDir (admin.BulkLoad), before
// torii serve --data-dir dataDir starts on it.
func Load(dataDir string, routes, keys int) error {
	_, err := admin.BulkLoad(filepath.Join(dataDir, admin.DefaultDBName), Routes(routes), Keys(keys, routes))
	return err
}

// WriteExport writes an Otoroshi export with routes routes and keys keys to w, one entity at a
// time (it never holds the whole document).
func WriteExport(w io.Writer, routes, keys int) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	list := func(name string, n int, doc func(int) map[string]any, last bool) error {
		fmt.Fprintf(bw, "%q:[", name)
		for i := range n {
			if i > 0 {
				bw.WriteByte(',')
			}
			b, err := json.Marshal(doc(i))
			if err != nil {
				return err
			}
			bw.Write(b)
		}
		bw.WriteString("]")
		if !last {
			bw.WriteByte(',')
		}
		return nil
	}
	bw.WriteString(`{"label":"Otoroshi export","dateRaw":0,"stats":{},`)
	if err := list("routes", routes, Route, false); err != nil {
		return err
	}
	if err := list("apiKeys", keys, func(i int) map[string]any { return Key(i, routes) }, true); err != nil {
		return err
	}
	bw.WriteString("}\n")
	return bw.Flush()
}
