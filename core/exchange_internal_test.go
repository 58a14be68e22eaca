package core

import (
	"net/netip"
	"testing"

	"github.com/torii-gateway/torii/core/route"
)

// endExchange's contract, outcome by outcome, without sockets: the
// in-flight count and the target are released exactly once (a second call
// repeats only the decision), the target's outcome is reported except when
// the client left, and pool/keep-alive follow the exchange's flags.
func TestEndExchangeOutcomes(t *testing.T) {
	s, err := NewServer(Config{Listen: "127.0.0.1:0", Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := QuickRoute([]string{"http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	r.Backend.Client.MaxErrors = 1 // one reported failure opens the circuit
	lp := newLoop(s, nil)
	lp.initObserve(0)

	// report: what the target saw, "ok" (a latency sample), "fail" (the
	// circuit opened) or "none".
	f := func(how endKind, keepAlive, reqDone, usKeepAlive bool, wantPool, wantKeep bool, report string) {
		t.Helper()
		table, err := route.Compile([]route.Route{r}, route.CompileOptions{Seed: 1}) // a fresh target state
		if err != nil {
			t.Fatal(err)
		}
		rt := table.Routes()[0]
		up := &rt.Upstreams()[0]
		cc := &clientConn{lp: lp, remote: netip.MustParseAddr("127.0.0.1")}
		cc.began = s.now() - 5 // a 5 ms call
		cc.keepAlive, cc.reqDone = keepAlive, reqDone
		if _, ok := lp.enterFlight(cc, nil); !ok {
			t.Fatal("enterFlight refused without a limit")
		}
		cc.rt, cc.target = rt, up
		up.Acquire()
		us := &upstreamConn{keepAlive: usKeepAlive}
		for i := range 2 { // idempotent: the second call releases nothing
			end := s.endExchange(lp, cc, us, how, errBadGateway)
			if end.poolUpstream != wantPool || end.keepClient != wantKeep || (how == endAnswered) != (len(end.page) > 0) {
				t.Fatalf("how %d call %d: pool %v keep %v, want %v %v", how, i, end.poolUpstream, end.keepClient, wantPool, wantKeep)
			}
		}
		if n := s.InFlight(); n != 0 || cc.inFlight {
			t.Fatalf("how %d: %d in flight", how, n)
		}
		if n := up.State().InFlight(); n != 0 || cc.target != nil || cc.rt != nil {
			t.Fatalf("how %d: target still held (%d)", how, n)
		}
		got := "none"
		switch {
		case up.State().Circuit() != route.CircuitClosed:
			got = "fail"
		case up.State().Latency() > 0:
			got = "ok"
		}
		if got != report {
			t.Fatalf("how %d: target saw %q, want %q", how, got, report)
		}
	}
	f(endDone, true, true, true, true, true, "ok")
	f(endDone, true, false, true, false, false, "ok")  // request body not all read: both close
	f(endDone, false, true, true, true, false, "ok")   // client asked to close: the backend connection is still good
	f(endDone, true, true, false, false, true, "ok")   // backend asked to close
	f(endTunnel, true, true, true, false, false, "ok") // the connections go on as a tunnel
	f(endFailed, true, true, true, false, false, "fail")
	f(endAnswered, true, true, true, false, true, "fail")    // an error page on a keep-alive connection
	f(endAnswered, false, true, true, false, false, "fail")  // ... that closes
	f(endClientGone, true, true, true, false, false, "none") // not the backend's fault: no report
	s.draining.Store(true)
	f(endDone, true, true, true, false, false, "ok") // draining: nothing kept
}
