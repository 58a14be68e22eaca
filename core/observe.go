package core

import (
	"time"

	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/metric"
	"github.com/torii-gateway/torii/core/quota"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/httpparse"
	"github.com/torii-gateway/torii/internal/pvec"
)

// Observation of the hot path (see "Observation" in the package doc). Every
// client exchange is recorded on its loop as it goes: obsBegin when its head
// is parsed (obsAnswer when an error is answered without one), obsRoute once
// routed, obsBackend when the forwarded head is built, obsResponse when the
// backend's final head arrives, obsPumped for what a pump relayed, and
// obsEnd, called by endExchange (exchange.go) when it ends. These hooks only
// record: they release, report and decide nothing. Each starts with one
// test. Times are monotonic nanoseconds since the server's
// start (Server.nanos); the event's wall-clock start is derived from them.

// serverObs is the observation configuration of a Server, fixed at NewServer.
type serverObs struct {
	hub         *event.Hub
	set         *metric.Set
	live        *metric.Live
	noRoute     *metric.RouteMetrics // requests refused before routing
	headersIn   bool                 // OtoroshiHeadersIn: id, proxied host, timestamp to the backend
	headersBack bool                 // SendOtoroshiHeadersBack: id, timestamp, latencies to the client
	on          bool                 // any of the above
	startWall   int64                // Unix ns of Server.start
}

func (s *Server) initObserve() {
	cfg := &s.cfg
	o := &s.obs
	o.hub, o.set, o.live = cfg.Events, cfg.Metrics, cfg.Live
	o.headersIn = !cfg.NoOtoroshiHeadersIn
	o.headersBack = !cfg.NoOtoroshiHeadersBack
	o.on = o.hub != nil || o.set != nil || o.headersIn || o.headersBack
	o.startWall = s.start.UnixNano()
	if o.set != nil {
		o.noRoute = o.set.Route(metric.NoRouteID)
		s.registerGauges()
	}
}

// nanos is the server clock in nanoseconds, monotonic.
func (s *Server) nanos() int64 { return int64(time.Since(s.start)) }

// observeTable is what observation needs from one snapshot, built off the
// loop by Publish: the metrics of each route, by route.Compiled.Index, in a
// persistent vector that a route write changes in O(changed routes). The
// event identity of an API key is built with the key (apikey.Key.Identity).
type observeTable struct {
	set    *metric.Set
	hub    *event.Hub
	routes pvec.Vec[*metric.RouteMetrics]
}

// attachObserve builds snap's observeTable for the server's metric Set and
// hub, unless snap already has one for them. It runs in Publish, before the
// snapshot is stored, never on a loop.
func (s *Server) attachObserve(snap *Snapshot) {
	set, hub := s.obs.set, s.obs.hub
	if (set == nil && hub == nil) || snap == nil {
		return
	}
	if snap.obs != nil && snap.obs.set == set && snap.obs.hub == hub {
		return
	}
	cur := s.snap.Load()
	if cur == nil || cur.obs == nil || cur.obs.set != set || cur.obs.hub != hub {
		cur = nil
	}
	// The same route table as the current snapshot (an API key or global
	// config change): the same route metrics, without a pass over the routes.
	if cur != nil && cur.Routes == snap.Routes {
		snap.obs = cur.obs
		return
	}
	t := &observeTable{set: set, hub: hub}
	snap.obs = t
	if set == nil || snap.Routes == nil {
		return
	}
	if d := snap.Routes.DeltaFrom(curRoutes(cur)); d != nil {
		// A route write: the current metrics but for the routes it changed.
		removed := make([]string, len(d.Removed))
		ed := cur.obs.routes.Edit()
		for i, rt := range d.Removed {
			removed[i] = rt.ID
			ed.Clear(rt.Index)
		}
		added := make([]string, len(d.Added))
		for i, rt := range d.Added {
			added[i] = rt.ID
		}
		for i, m := range set.SyncRoutesDelta(added, removed) {
			ed.Set(d.Added[i].Index, m)
		}
		t.routes = ed.Vec()
		return
	}
	rs := snap.Routes.Routes()
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	ed := t.routes.Edit()
	for i, m := range set.SyncRoutes(ids) {
		ed.Set(rs[i].Index, m)
	}
	t.routes = ed.Vec()
}

// curRoutes is the route table of cur, or nil.
func curRoutes(cur *Snapshot) *route.Table {
	if cur == nil {
		return nil
	}
	return cur.Routes
}

// keyQuotas converts a key's limits and what remains after a call into the
// event's remainingQuotas (authorized, current and remaining per window).
func keyQuotas(lim quota.Limits, rem quota.Remaining) event.Quotas {
	return event.Quotas{
		AuthorizedCallsPerWindow: lim.Throttle, ThrottlingCallsPerWindow: max(lim.Throttle-rem.Throttle, 0), RemainingCallsPerWindow: rem.Throttle,
		AuthorizedCallsPerDay: lim.Daily, CurrentCallsPerDay: max(lim.Daily-rem.Daily, 0), RemainingCallsPerDay: rem.Daily,
		AuthorizedCallsPerMonth: lim.Monthly, CurrentCallsPerMonth: max(lim.Monthly-rem.Monthly, 0), RemainingCallsPerMonth: rem.Monthly,
	}
}

// routeMetrics returns the metrics of rt in snap, or nil.
func (snap *Snapshot) routeMetrics(rt *route.Compiled) *metric.RouteMetrics {
	if snap == nil || snap.obs == nil {
		return nil
	}
	if p := snap.obs.routes.At(rt.Index); p != nil {
		return *p
	}
	return nil
}

// loopObs is the observation state of one loop, touched only on it (pools
// excepted: see poolStats).
type loopObs struct {
	on    bool
	index int // the loop's index: ring, metric shard, request id generator
	ring  *event.Ring
	ids   *event.IDGen
}

func (lp *loop) initObserve(index int) {
	o := &lp.s.obs
	lp.obs.on = o.on
	lp.obs.index = index
	lp.obs.ids = event.NewIDGen(index)
	lp.heads.tsMs = -1
	if o.hub != nil {
		lp.obs.ring = o.hub.Ring(index)
	}
}

// exchangeObs is the observation state of one client connection's current
// exchange.
type exchangeObs struct {
	active  bool
	rec     *event.Record // nil without an event hub or between exchanges (idle.go)
	rm      *metric.RouteMetrics
	id      uint64
	start   int64 // ns (Server.nanos) when the head was parsed
	backend int64 // ns when the backend call started, 0 before
	respAt  int64 // ns when the response head arrived, 0 before
	dataIn  int64 // request bytes read: head and body
	dataOut int64 // response bytes written: head and body as relayed
	status  uint16
	grpc    uint8 // gRPC status + 1 (grpc.go), 0: none seen
	routed  bool  // obsRoute ran: the policy step ran too, so cc.pol is this request's
}

// obsBegin starts observing the request just parsed into lp.req from buf
// (headLen bytes of head). buf dies with the callback: everything the event
// needs from it is copied here.
func (lp *loop) obsBegin(cc *clientConn, buf []byte, headLen int) {
	if !lp.obs.on {
		return
	}
	s := lp.s
	o := &cc.obs
	now := s.nanos()
	*o = exchangeObs{rec: o.rec, active: true, start: now, dataIn: int64(headLen)}
	o.id = lp.obs.ids.Next((s.obs.startWall + now) / 1e6)
	if lp.obs.ring == nil {
		return
	}
	if o.rec == nil {
		o.rec = lp.takeRecord()
	}
	r := o.rec
	req := &lp.req
	r.Reset(lp.obs.ring.CapturesHeaders())
	r.ReqID = o.id
	r.Start = s.obs.startWall + now
	r.Method, r.Version = req.MethodKind, req.Version
	if cc.peer != nil && cc.peer.ALPN == alpnH2 {
		r.Version = versionH2 // an HTTP/2 stream carried as HTTP/1.1 (entry.go)
	}
	if req.MethodKind == httpparse.MethodOther {
		r.SetMethodToken(req.Method.Bytes(buf))
	}
	r.From = cc.remote
	if cc.tls {
		r.Flags |= event.FlagTLS
	}
	r.SetHost(req.Host.Bytes(buf))
	r.SetURI(req.Target.Bytes(buf))
	r.AddRequestHeaders(buf, req.Headers)
}

// obsRoute records that the exchange was routed to rt.
func (lp *loop) obsRoute(cc *clientConn, snap *Snapshot, rt *route.Compiled) {
	if !lp.obs.on {
		return
	}
	o := &cc.obs
	o.routed = true
	if o.rm = snap.routeMetrics(rt); o.rm != nil {
		o.rm.Begin(lp.obs.index)
	}
	if o.rec != nil {
		o.rec.RouteID, o.rec.RouteName = rt.ID, rt.Name
	}
}

// obsBackend records the start of the backend call to up, whose forwarded
// head is cc.head.
func (lp *loop) obsBackend(cc *clientConn, up *route.Upstream) {
	if !lp.obs.on {
		return
	}
	o := &cc.obs
	o.backend = lp.s.nanos()
	if o.rec != nil {
		o.rec.TargetHost = up.HostPort
		o.rec.SetTargetURI(cc.layout.target(cc.head))
		if up.TLS != nil {
			o.rec.Flags |= event.FlagTargetTLS
		} else {
			o.rec.Flags &^= event.FlagTargetTLS // a retry to a plaintext target
		}
	}
}

// obsResponse records the final (or 101) response head us parsed from buf.
func (lp *loop) obsResponse(cc *clientConn, us *upstreamConn, buf []byte) {
	if !lp.obs.on {
		return
	}
	o := &cc.obs
	o.respAt = lp.s.nanos()
	o.status = uint16(us.resp.Status)
	if us.h2 {
		o.grpc = grpcStatusOf(&us.resp, buf) // a trailers-only gRPC response
	}
	if o.rec != nil {
		o.rec.AddResponseHeaders(buf, us.resp.Headers)
		if us.out == outChunk || (us.out == outPass && us.framing == httpparse.FramingChunked) {
			o.rec.Flags |= event.FlagChunked
		}
	}
}

// obsEnd records the end of cc's exchange at now: the route's metrics and
// the event. On lp's goroutine, or on a pump goroutine that owns cc (lp is
// then cc's loop, used only for its index, and the record goes to the hub's
// shared ring).
func (s *Server) obsEnd(lp *loop, cc *clientConn, now int64, gwError string, failed bool) {
	o := &cc.obs
	o.active = false
	total := now - o.start
	var backend int64
	if o.backend > 0 {
		backend = now - o.backend
	}
	rm := o.rm
	if rm == nil {
		rm = s.obs.noRoute
		if rm != nil {
			rm.Begin(lp.obs.index)
		}
	}
	if rm != nil {
		rm.Done(lp.obs.index, int(o.status), o.dataIn, o.dataOut,
			time.Duration(total), time.Duration(backend), time.Duration(total-backend))
	}
	o.rm = nil
	r := o.rec
	if r == nil {
		return
	}
	r.Duration, r.Backend = total, backend
	r.DataIn, r.DataOut = o.dataIn, o.dataOut
	r.Status = o.status
	r.GRPCStatus = o.grpc
	r.Attempts = 0
	if o.routed && o.backend > 0 {
		// Targets tried (retries across targets), plus the retry of a
		// pooled connection found closed.
		n := max(cc.pol.attempts, 1)
		if cc.retried {
			n++
		}
		r.Attempts = uint8(min(n, 255))
	}
	r.GwError = gwError
	if failed {
		r.Flags |= event.FlagError
	}
	if u := cc.pol.user; u != nil {
		r.Identity = u.Identity()
	} else if k := cc.pol.key; k != nil && o.routed {
		if r.Identity = k.Identity(); cc.pol.counted {
			r.Quotas = keyQuotas(k.Limits, cc.pol.rem)
		}
	}
	if cc.peer != nil {
		r.ClientCert = cc.peer.cert
	}
	if lp.obs.ring != nil && cc.state != csPumped {
		lp.obs.ring.Push(r)
	} else if s.obs.hub != nil {
		s.obs.hub.PushShared(r)
	}
}

// obsAnswer prepares the record of an error answered by replyError: for a
// connection whose request head could not be parsed or did not arrive in
// time (no exchange was begun), it begins one of its own, so that the page
// carries a request id and the event is recorded; a 429 counts as a quota
// rejection in the route's metrics. endExchange then records it.
func (lp *loop) obsAnswer(cc *clientConn, k errKind) {
	o := &cc.obs
	if !o.active && lp.obs.on && cc.state == csHead {
		now := lp.s.nanos()
		*o = exchangeObs{rec: o.rec, active: true, start: now}
		o.id = lp.obs.ids.Next((lp.s.obs.startWall + now) / 1e6)
		if lp.obs.ring != nil {
			if o.rec == nil {
				o.rec = lp.takeRecord()
			}
			o.rec.Reset(false)
			o.rec.ReqID, o.rec.Start, o.rec.From = o.id, lp.s.obs.startWall+now, cc.remote
			if cc.tls {
				o.rec.Flags |= event.FlagTLS
			}
		}
	}
	if k == errTooManyRequests && o.rm != nil {
		o.rm.QuotaRejected(lp.obs.index)
	}
}

// obsPumped records the body bytes a pump goroutine relayed for cc's
// exchange (moved, whatever the framing, also when it failed): request
// bytes for an upload, response bytes for a download. On the pump
// goroutine, before the exchange ends or goes back to its loop.
func (cc *clientConn) obsPumped(kind pumpKind, moved int64) {
	if !cc.obs.active {
		return
	}
	switch kind {
	case pumpUpload:
		cc.obs.dataIn += moved
	case pumpDownload:
		cc.obs.dataOut += moved
	}
}
