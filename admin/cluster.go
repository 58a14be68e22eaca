package admin

import (
	"bytes"
	"context"
	"fmt"
	"github.com/torii-gateway/torii/auth"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/torii-gateway/torii/core"
	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/dns"
	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/internal/jsonx"
)

// This file is the admin side of cluster mode (package cluster): the leader reads the whole state
// as Otoroshi storage keys, and a worker, which has no database, compiles the state it received
// with the same compiler the admin uses.

// ClusterGlobalKey is the Otoroshi storage key of the global config.
const ClusterGlobalKey = "otoroshi:config:global"

// clusterPrefixes are the Otoroshi storage key prefixes of the kinds Otoroshi stores under another
// name than their API path (KvApiKeyDataStore, KvServiceGroupDataStore,
// KvDataExporterConfigDataStore); every other kind is stored under "otoroshi:<path>:".
var clusterPrefixes = map[string]string{
	"apikeys":               "otoroshi:apikey:coll:",
	"groups":                "otoroshi:sgroup:",
	"data-exporter-configs": "otoroshi:data-exporters:",
	"auths":                 "otoroshi:auth:configs:", // KvAuthConfigsDataStore
}

// clusterPrefix returns the storage key prefix of kind k.
func clusterPrefix(k *kind) string {
	if p, ok := clusterPrefixes[k.path]; ok {
		return p
	}
	return "otoroshi:" + k.path + ":"
}

// ClusterEntries calls fn with the Otoroshi storage key and the canonical JSON of every stored
// entity and of the global config, in a stable order (kinds, then ids). raw must not be modified;
// it stays valid after fn returns. Safe from any goroutine: it reads the current immutable state.
func (s *Server) ClusterEntries(fn func(key string, raw []byte)) {
	st := s.cur.Load()
	if st == nil {
		return
	}
	if st.global != nil {
		fn(ClusterGlobalKey, st.global.raw)
	}
	rd := &reader{}
	defer rd.close()
	for _, k := range kinds {
		prefix := clusterPrefix(k)
		for _, e := range st.ents[k.id].All() {
			if raw := rd.bytes(e); raw != nil {
				fn(prefix+e.id, bytes.Clone(raw)) // fn may keep it; bbolt's memory lives as long as the transaction
			}
		}
	}
}

// VerifyAdminKey reports whether id and secret are the admin API key, which holds every right,
// the cluster right included. Constant time for a given id length; failures are not counted here
// (ClusterAuth counts them).
func (s *Server) VerifyAdminKey(id, secret string) bool { return s.key.verify(id, secret) }

// ClusterAuth runs the admin API's failure accounting for a cluster request whose credentials
// were checked by the caller (ok: the cluster key or the admin key): a client past the admin
// API's failure limit is refused (blocked, with how long) even with a right key, a failure
// counts against its address, a success clears them. So the cluster endpoints offer no way
// around the admin API's brute-force protection.
func (s *Server) ClusterAuth(r *http.Request, ok bool) (blocked bool, retryAfter time.Duration) {
	client, now := clientPrefix(r.RemoteAddr), time.Now()
	if wait, b := s.authFails.blocked(client, now); b {
		metricAuthThrottled.Inc()
		return true, wait
	}
	if !ok {
		metricAuthFailures.Inc()
		s.authFails.fail(client, now)
		return false, 0
	}
	s.authFails.forget(client)
	return false, 0
}

// AdminSession reports whether r is a GET carrying a valid admin UI session cookie: the UI's
// Cluster page reads GET /api/cluster/members with it.
func (s *Server) AdminSession(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	_, err := s.sessionAuth(r)
	return err == nil
}

// ClusterCompiler compiles the state a worker receives from its leader into a snapshot, exactly
// as the admin API compiles its own. Its route registry is kept across compiles, so that target
// runtime state (health, circuit breakers) survives updates. Target host names come from a name
// cache resolved on its own goroutine (started by NewClusterCompiler, stopped by Close), as on the
// leader: a name that does not resolve makes its targets down, never the state refused. Compile is
// not safe for concurrent use with itself (the worker calls it from one goroutine); when the
// cache's answers change, the last state is compiled again and handed to the OnNamesChange
// callback.
type ClusterCompiler struct {
	c       *compiler
	mu      sync.Mutex // Compile and the recompile after a DNS change
	version uint64
	last    map[string][]byte
	onNames func(*ClusterCompiled)
	stop    func()
}

// NewClusterCompiler returns a compiler whose keys count against counters (nil: private
// counters) and whose routes keep their runtime state in reg (nil: a private registry).
func NewClusterCompiler(log *slog.Logger, counters *quota.Counters, reg *route.Registry) *ClusterCompiler {
	if log == nil {
		log = slog.Default()
	}
	cc := &ClusterCompiler{}
	names := dns.New(dns.Options{Log: log, OnChange: cc.namesChanged})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); names.Run(ctx) }()
	cc.stop = func() { cancel(); <-done }
	cc.c = newCompiler(log, names)
	cc.c.counters = counters
	if reg != nil {
		cc.c.reg = reg
	}
	return cc
}

// OnNamesChange sets what receives the state compiled again after a DNS change (the worker
// publishes it). Call it before the first Compile.
func (cc *ClusterCompiler) OnNamesChange(f func(*ClusterCompiled)) { cc.onNames = f }

// Close stops the name cache's goroutine.
func (cc *ClusterCompiler) Close() { cc.stop() }

// namesChanged runs on the name cache's goroutine: the last state again, with the new addresses.
func (cc *ClusterCompiler) namesChanged() {
	cc.mu.Lock()
	last := cc.last
	cc.mu.Unlock()
	if last == nil || cc.onNames == nil {
		return
	}
	out, err := cc.compileEntries(last)
	if err != nil {
		cc.c.log.Error("cluster state does not compile after a DNS change; the last one stays published", "err", err)
		return
	}
	cc.onNames(out)
}

// ClusterCompiled is one compiled cluster state.
type ClusterCompiled struct {
	Snapshot *core.Snapshot
	Keys     *apikey.Set
	Routes   *route.Table
	// Global is the typed global config (nil: the defaults).
	Global *GlobalSettings
	// Ignored counts the entries whose key names no kind Torii stores.
	Ignored int
	// Auths are the auth modules and Private the routes, as decoded, that matter to the login
	// server (auth.LoginRelevant; not the added login routes): give them to the node's
	// private-app login server (auth.Server.Update) before publishing Snapshot.
	Auths   []*auth.Config
	Private []route.Route
	// Exporters are the data exporters of the state, ordered by id, and ExportersTag
	// identifies them: hand them to the node's event hub (SetExporters) when the tag changed,
	// as the admin does for the leader's own proxy.
	Exporters    []event.ExporterConfig
	ExportersTag string
}

// SetPrivateApps makes every Compile add the routes to login's pages (its Addr) for the domains
// of the routes behind AuthModule, as the leader's admin does for its own proxy.
func (cc *ClusterCompiler) SetPrivateApps(login *auth.Server) { cc.c.login = login }

// Compile decodes entries (Otoroshi storage key → the entity's JSON) into a state and compiles
// it. Keys of kinds Torii does not store are ignored and counted. Errors name the entry or the
// field. It waits (at most 3 s) for the first DNS answers of names it has not seen; call it off
// the event loops.
func (cc *ClusterCompiler) Compile(entries map[string][]byte) (*ClusterCompiled, error) {
	out, err := cc.compileEntries(entries)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	cc.last = entries
	cc.mu.Unlock()
	// Names without an address yet: wait a little for their first answers, as the leader does
	// at start, and compile again only if one of them resolved.
	hosts := out.Routes.Hostnames()
	cc.c.names.Watch(hosts)
	var missing []string
	for _, h := range hosts {
		if _, ok := cc.c.names.Lookup(h); !ok {
			missing = append(missing, h)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), startupDNSWait)
	defer cancel()
	cc.c.names.Wait(ctx, missing)
	for _, h := range missing {
		if _, ok := cc.c.names.Lookup(h); ok {
			return cc.compileEntries(entries)
		}
	}
	return out, nil
}

// compileEntries decodes and compiles one cluster state.
func (cc *ClusterCompiler) compileEntries(entries map[string][]byte) (*ClusterCompiled, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	st := newState()
	ignored := 0
	for key, raw := range entries {
		doc, err := jsonx.DecodeObject(raw)
		if err != nil {
			return nil, fmt.Errorf("cannot decode cluster entry %q: %w", key, err)
		}
		if key == ClusterGlobalKey {
			e, err := newEntity(globalKey, doc)
			if err != nil {
				return nil, fmt.Errorf("cannot encode cluster entry %q: %w", key, err)
			}
			st.global = e
			continue
		}
		k, id := clusterKind(key)
		if k == nil {
			ignored++
			continue
		}
		e, err := newEntity(id, doc)
		if err != nil {
			return nil, fmt.Errorf("cannot encode cluster entry %q: %w", key, err)
		}
		st.ents[k.id] = st.ents[k.id].Set(id, e)
	}
	cc.version++
	out, err := cc.c.compile(st, cc.version)
	if err != nil {
		return nil, err
	}
	cc.c.reg.Prune(out.routes)
	exps, errs := exporterConfigs(st)
	for _, err := range errs {
		cc.c.log.Error("data exporter of the cluster state does not decode; skipped", "err", err)
	}
	return &ClusterCompiled{Snapshot: out.snap, Keys: out.keys, Routes: out.routes, Global: out.global, Ignored: ignored,
		Auths: out.auths, Private: out.private, Exporters: exps, ExportersTag: exportersTag(st)}, nil
}

// clusterKind returns the kind and id of an Otoroshi storage key, or nil.
func clusterKind(key string) (*kind, string) {
	for _, k := range kinds {
		if id, ok := strings.CutPrefix(key, clusterPrefix(k)); ok && id != "" {
			return k, id
		}
	}
	return nil, ""
}

// clusterHandler serves Options.Cluster under /api/cluster/ behind the Host check; the cluster
// handler authenticates its callers itself (cluster keys).
func (s *Server) clusterHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			writeError(w, errForbidden("host not allowed"))
			return
		}
		h.ServeHTTP(w, r)
	})
}
