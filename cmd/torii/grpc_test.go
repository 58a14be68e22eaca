package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/torii-gateway/torii/internal/testkit"
	"github.com/torii-gateway/torii/pki"
)

// grpcMax is the message size limit of the test's gRPC client and server: large messages
// (8 MiB) go through the gateway's pumps with --high-water 64 KiB.
const grpcMax = 32 << 20

// grpcBackend is a real gRPC server (grpc-go, h2c on loopback) of the interop TestService.
type grpcBackend struct {
	grpc_testing.UnimplementedTestServiceServer
	cancelled atomic.Int64 // calls whose context ended before the handler did (deadlines)
}

func payload(n int32) *grpc_testing.Payload {
	b := bytes.Repeat([]byte("0123456789abcdef"), int(n)/16+1)[:n]
	return &grpc_testing.Payload{Body: b}
}

// answer applies a request's response_status (an error status) and trailer metadata.
func answer(ctx context.Context, st *grpc_testing.EchoStatus) error {
	_ = grpc.SetTrailer(ctx, metadata.Pairs("x-backend-trailer", "t1"))
	if st != nil && st.Code != 0 {
		return status.Error(codes.Code(st.Code), st.Message)
	}
	return nil
}

func (b *grpcBackend) UnaryCall(ctx context.Context, req *grpc_testing.SimpleRequest) (*grpc_testing.SimpleResponse, error) {
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get("x-sleep")) > 0 {
		d, _ := time.ParseDuration(md.Get("x-sleep")[0])
		select {
		case <-time.After(d):
		case <-ctx.Done():
			b.cancelled.Add(1)
			return nil, ctx.Err()
		}
	}
	if err := answer(ctx, req.ResponseStatus); err != nil {
		return nil, err
	}
	// The response says how many request bytes arrived and starts with the request's first
	// bytes, so that the client checks both directions.
	p := payload(req.ResponseSize)
	copy(p.Body, req.GetPayload().GetBody()[:min(16, len(req.GetPayload().GetBody()))])
	return &grpc_testing.SimpleResponse{Payload: p, Username: fmt.Sprint(len(req.GetPayload().GetBody()))}, nil
}

func (b *grpcBackend) StreamingOutputCall(req *grpc_testing.StreamingOutputCallRequest, s grpc.ServerStreamingServer[grpc_testing.StreamingOutputCallResponse]) error {
	for _, p := range req.ResponseParameters {
		time.Sleep(time.Duration(p.IntervalUs) * time.Microsecond)
		if err := s.Send(&grpc_testing.StreamingOutputCallResponse{Payload: payload(p.Size)}); err != nil {
			return err
		}
	}
	return answer(s.Context(), req.ResponseStatus)
}

func (b *grpcBackend) StreamingInputCall(s grpc.ClientStreamingServer[grpc_testing.StreamingInputCallRequest, grpc_testing.StreamingInputCallResponse]) error {
	total := 0
	for {
		req, err := s.Recv()
		if err == io.EOF {
			_ = answer(s.Context(), nil)
			return s.SendAndClose(&grpc_testing.StreamingInputCallResponse{AggregatedPayloadSize: int32(total)})
		}
		if err != nil {
			return err
		}
		total += len(req.GetPayload().GetBody())
	}
}

// FullDuplexCall answers each request as soon as it arrives (ping-pong): it needs the response
// to flow while the request stream is still open.
func (b *grpcBackend) FullDuplexCall(s grpc.BidiStreamingServer[grpc_testing.StreamingOutputCallRequest, grpc_testing.StreamingOutputCallResponse]) error {
	for {
		req, err := s.Recv()
		if err == io.EOF {
			return answer(s.Context(), nil)
		}
		if err != nil {
			return err
		}
		if st := req.ResponseStatus; st != nil && st.Code != 0 {
			return status.Error(codes.Code(st.Code), st.Message)
		}
		for _, p := range req.ResponseParameters {
			out := payload(p.Size)
			copy(out.Body, req.GetPayload().GetBody()[:min(16, len(req.GetPayload().GetBody()))])
			if err := s.Send(&grpc_testing.StreamingOutputCallResponse{Payload: out}); err != nil {
				return err
			}
		}
	}
}

// startGRPCBackend serves the TestService over h2c on a loopback port, or over TLS (ALPN h2)
// with a self-signed certificate when tlsOn.
func startGRPCBackend(t testing.TB, tlsOn bool) (*grpcBackend, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &grpcBackend{}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(grpcMax), grpc.MaxSendMsgSize(grpcMax)}
	if tlsOn {
		m := testkit.Mint(t, pki.MintOptions{CommonName: "grpc backend", Hosts: []string{"127.0.0.1"}})
		cert, err := tls.X509KeyPair([]byte(m.ChainPEM), []byte(m.KeyPEM))
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	}
	gs := grpc.NewServer(opts...)
	grpc_testing.RegisterTestServiceServer(gs, b)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return b, ln.Addr().String()
}

// grpcRoutes writes a routes file: grpc.test to the gRPC backend in HTTP/2 (h2c), down.test to
// a port where nothing listens, same protocol; with tlsBackend, grpcs.test to it in h2 over TLS
// (tls_config.trust_all: its certificate is self-signed) and untrusted.test to it verified
// against the system roots (which fails).
func grpcRoutes(t testing.TB, backend, tlsBackend string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(backend)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, downPort, _ := net.SplitHostPort(ln.Addr().String())
	_ = ln.Close()
	route := func(id, domain, h, p, tlsConf string) string {
		client := ""
		if id == "short" {
			client = `,"client":{"call_and_stream_timeout":400}`
		}
		return fmt.Sprintf(`{"id":%q,"name":%q,"enabled":true,"frontend":{"domains":[%q]},
		 "backend":{"targets":[{"hostname":%q,"port":%s,"protocol":"HTTP/2.0"%s}],"root":"/"%s}}`, id, id, domain, h, p, tlsConf, client)
	}
	path := filepath.Join(t.TempDir(), "routes.json")
	doc := "[" + route("grpc", "grpc.test", host, port, "") + "," + route("down", "down.test", "127.0.0.1", downPort, "") +
		"," + route("short", "short.test", host, port, "")
	if tlsBackend != "" {
		th, tp, _ := net.SplitHostPort(tlsBackend)
		doc += "," + route("grpcs", "grpcs.test", th, tp, `,"tls":true,"tls_config":{"trust_all":true}`) +
			"," + route("untrusted", "untrusted.test", th, tp, `,"tls":true`)
	}
	doc += "]"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startGRPCGateway runs the gateway binary with the default HTTP/2 front (h2c with prior
// knowledge on --listen) and a low --high-water, so that large messages go through pumps.
func startGRPCGateway(t testing.TB, backend, tlsBackend string) (tr *testkit.Torii, accessLog string) {
	t.Helper()
	accessLog = filepath.Join(t.TempDir(), "access.log")
	tr = testkit.StartTorii(t, toriiBin, "serve", "--listen", anyPort, "--admin", anyPort, "--data-dir", t.TempDir(), "--echo", "off",
		"--config", grpcRoutes(t, backend, tlsBackend), "--h2c", "--loops", "1", "--high-water", "65536",
		"--access-log", accessLog)
	return tr, accessLog
}

func grpcClient(t testing.TB, addr, authority string) grpc_testing.TestServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithAuthority(authority),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(grpcMax), grpc.MaxCallSendMsgSize(grpcMax)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return grpc_testing.NewTestServiceClient(cc)
}

// TestGRPCThroughGateway: a real grpc-go client and server (h2c, loopback) through the gateway
// binary, with the route's target in HTTP/2 (protocol HTTP/2.0): unary, server-streaming,
// client-streaming and bidirectional calls with trailers both ways, an error status, a deadline
// exceeded, a stream cut by the route's call timeout, large messages under backpressure (8 MiB each way with --high-water 64 KiB, and a
// ping-pong of 2 MiB messages that only completes if responses flow while the request stream is
// open, pumps included), a backend that is down, and grpc-status in each call's event (access
// log).
func TestGRPCThroughGateway(t *testing.T) {
	backend, baddr := startGRPCBackend(t, false)
	_, tlsAddr := startGRPCBackend(t, true)
	tr, accessLog := startGRPCGateway(t, baddr, tlsAddr)
	proxy := tr.Proxy
	c := grpcClient(t, proxy, "grpc.test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	calls := 0

	// Unary, with metadata in and trailers out.
	var trailer metadata.MD
	resp, err := c.UnaryCall(metadata.AppendToOutgoingContext(ctx, "x-client", "c1"),
		&grpc_testing.SimpleRequest{ResponseSize: 10, Payload: payload(5)}, grpc.Trailer(&trailer))
	calls++
	if err != nil || len(resp.Payload.Body) != 10 || resp.Username != "5" {
		t.Fatalf("unary: %v %v", resp, err)
	}
	if got := trailer.Get("x-backend-trailer"); len(got) != 1 || got[0] != "t1" {
		t.Errorf("unary trailers %v, want x-backend-trailer t1", trailer)
	}

	// Server streaming: messages arrive one by one, spaced by the backend.
	ss, err := c.StreamingOutputCall(ctx, &grpc_testing.StreamingOutputCallRequest{ResponseParameters: []*grpc_testing.ResponseParameters{
		{Size: 100}, {Size: 200, IntervalUs: 20000}, {Size: 300, IntervalUs: 20000}}})
	calls++
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for {
		m, err := ss.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("server streaming: %v", err)
		}
		sizes = append(sizes, len(m.Payload.Body))
	}
	if fmt.Sprint(sizes) != "[100 200 300]" || ss.Trailer().Get("x-backend-trailer")[0] != "t1" {
		t.Errorf("server streaming: sizes %v trailers %v", sizes, ss.Trailer())
	}

	// Client streaming.
	cs, err := c.StreamingInputCall(ctx)
	calls++
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int32{1000, 2000, 3000} {
		if err := cs.Send(&grpc_testing.StreamingInputCallRequest{Payload: payload(n)}); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := cs.CloseAndRecv(); err != nil || r.AggregatedPayloadSize != 6000 {
		t.Fatalf("client streaming: %v %v", r, err)
	}

	// Bidirectional ping-pong: each answer must come back before the next request is sent.
	pingPong := func(rounds int, size int32) {
		t.Helper()
		bs, err := c.FullDuplexCall(ctx)
		calls++
		if err != nil {
			t.Fatal(err)
		}
		for i := range rounds {
			req := &grpc_testing.StreamingOutputCallRequest{Payload: payload(size),
				ResponseParameters: []*grpc_testing.ResponseParameters{{Size: size}}}
			copy(req.Payload.Body, fmt.Sprintf("round-%08d", i))
			if err := bs.Send(req); err != nil {
				t.Fatalf("bidi send %d: %v", i, err)
			}
			m, err := bs.Recv()
			if err != nil || len(m.Payload.Body) != int(size) || string(m.Payload.Body[:14]) != fmt.Sprintf("round-%08d", i) {
				t.Fatalf("bidi round %d: %v", i, err)
			}
		}
		if err := bs.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := bs.Recv(); err != io.EOF {
			t.Fatalf("bidi end: %v", err)
		}
		if bs.Trailer().Get("x-backend-trailer")[0] != "t1" {
			t.Errorf("bidi trailers %v", bs.Trailer())
		}
	}
	pingPong(20, 100)

	// An error status, trailers-only from the backend.
	_, err = c.UnaryCall(ctx, &grpc_testing.SimpleRequest{ResponseStatus: &grpc_testing.EchoStatus{Code: int32(codes.NotFound), Message: "no such thing"}})
	calls++
	if st, _ := status.FromError(err); st.Code() != codes.NotFound || st.Message() != "no such thing" {
		t.Errorf("error status: %v", err)
	}
	// An error status after messages, on a stream.
	ss, err = c.StreamingOutputCall(ctx, &grpc_testing.StreamingOutputCallRequest{ResponseParameters: []*grpc_testing.ResponseParameters{{Size: 10}},
		ResponseStatus: &grpc_testing.EchoStatus{Code: int32(codes.PermissionDenied), Message: "halfway"}})
	calls++
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Recv(); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Recv(); status.Code(err) != codes.PermissionDenied {
		t.Errorf("stream error status: %v", err)
	}

	// A deadline exceeded: the client gives up after 200 ms, and the backend's handler is
	// cancelled (not left running until its 3 s sleep ends).
	dctx, dcancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "x-sleep", "3s"), 200*time.Millisecond)
	start := time.Now()
	_, err = c.UnaryCall(dctx, &grpc_testing.SimpleRequest{ResponseSize: 1})
	dcancel()
	calls++
	if status.Code(err) != codes.DeadlineExceeded || time.Since(start) > 2*time.Second {
		t.Errorf("deadline: %v after %v", err, time.Since(start))
	}
	for i := 0; backend.cancelled.Load() == 0; i++ {
		if i > 100 {
			t.Fatal("the backend's handler was not cancelled after the deadline")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Large messages under backpressure: 8 MiB up, 8 MiB down, the gateway pumping.
	const big = 8 << 20
	resp, err = c.UnaryCall(ctx, &grpc_testing.SimpleRequest{ResponseSize: big, Payload: payload(big)})
	calls++
	if err != nil || len(resp.Payload.Body) != big || resp.Username != fmt.Sprint(big) {
		t.Fatalf("large unary: %v", err)
	}
	pingPong(4, 2<<20)

	// A backend that is down: the gateway answers 502, which gRPC clients read as Unavailable.
	down := grpcClient(t, proxy, "down.test")
	_, err = down.UnaryCall(ctx, &grpc_testing.SimpleRequest{})
	calls++
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "502") {
		t.Errorf("backend down: %v", err)
	}

	// The route's call timeout (call_and_stream_timeout 400 ms) bounds a stream: cut, not hung.
	ss, err = grpcClient(t, proxy, "short.test").StreamingOutputCall(ctx, &grpc_testing.StreamingOutputCallRequest{
		ResponseParameters: []*grpc_testing.ResponseParameters{{Size: 10}, {Size: 10, IntervalUs: 3_000_000}}})
	calls++
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := ss.Recv(); err != nil {
		t.Fatalf("short route, first message: %v", err)
	}
	if _, err := ss.Recv(); err == nil || err == io.EOF || time.Since(start) > 2*time.Second {
		t.Errorf("stream past the route's call timeout: %v after %v", err, time.Since(start))
	} else {
		t.Logf("stream cut by the route's call timeout after %v: %v", time.Since(start), err)
	}

	// h2 over TLS to the backend (ALPN h2); one whose certificate fails verification is a 502.
	resp, err = grpcClient(t, proxy, "grpcs.test").UnaryCall(ctx, &grpc_testing.SimpleRequest{ResponseSize: 3, Payload: payload(7)})
	calls++
	if err != nil || len(resp.Payload.Body) != 3 || resp.Username != "7" {
		t.Errorf("h2 over TLS: %v %v", resp, err)
	}
	_, err = grpcClient(t, proxy, "untrusted.test").UnaryCall(ctx, &grpc_testing.SimpleRequest{})
	calls++
	if status.Code(err) != codes.Unavailable {
		t.Errorf("untrusted TLS backend: %v", err)
	}

	// Events: one per call, with grpc-status (OK, or the error's code; none for the deadline,
	// unless the backend's own copy of it, grpc-timeout, answered DEADLINE_EXCEEDED first, and
	// none for the 502). A pumped call's event may come after the next call's: compared sorted.
	entries := testkit.WaitEvents(t, accessLog, calls) // the access log is ndjson too
	want := []string{"FullDuplexCall 0", "FullDuplexCall 0", "StreamingInputCall 0", "StreamingOutputCall ",
		"StreamingOutputCall 0", "StreamingOutputCall 7", "UnaryCall ", "UnaryCall 0", "UnaryCall 0", "UnaryCall 0", "UnaryCall 5", "UnaryCall 502", "UnaryCall 502"}
	var got []string
	for _, e := range entries {
		g := fmt.Sprint(e["grpcStatus"])
		switch {
		case e["host"] != "grpc.test" && e["host"] != "short.test" && e["status"] == float64(502) && e["grpcStatus"] == nil:
			g = "502"
		case e["grpcStatus"] == nil || g == "4":
			g = ""
		}
		uri, _ := e["uri"].(string)
		got = append(got, strings.TrimPrefix(uri, "/grpc.testing.TestService/")+" "+g)
		if e["protocol"] != "HTTP/2.0" {
			t.Errorf("event protocol %v", e["protocol"])
		}
	}
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events (call, grpcStatus):\n%q, want\n%q", got, want)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("test ran out of time")
	}
	// Built with GOFLAGS=-race, the binary reports races on its output.
	tr.Stop()
	if out := tr.Out.String(); strings.Contains(out, "DATA RACE") {
		t.Errorf("the gateway reported a data race:\n%s", out)
	}
}
