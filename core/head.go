package core

import (
	"bytes"
	"strconv"
	"time"

	"github.com/torii-gateway/torii/core/apikey"
	"github.com/torii-gateway/torii/core/event"
	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/httpparse"
)

// Head rewriting: every byte of a head Torii writes, in either direction,
// is written here. The forwarded request head (appendRequestHead, with the
// Otoroshi headers in, the Host retarget of a retry) and the response head
// to the client (appendResponseHead, with the Otoroshi headers back and the
// policy headers), and the fields inserted into a pre-rendered error page
// (insertHeaders). The writers read the parsed head (spans into peeked
// bytes), cc.pol (what the policy steps decided) and cc.obs (request id,
// timings); they never keep a reference to the bytes they read. All run on
// the loop.

// headLayout locates the fields of cc.head that are read or rewritten after
// the head was built: the request-target (the event's target URI) and the
// Host value (rewritten for another target on a retry). Offsets into cc.head.
type headLayout struct {
	targetAt, targetEnd int
	hostAt, hostEnd     int
	// hostFromTarget says the Host value is the target's host:port
	// (OverrideHost, or a request without Host), so a retry to another
	// target rewrites it.
	hostFromTarget bool
}

// target returns the request-target of head, laid out by l.
func (l *headLayout) target(head []byte) []byte {
	if l.targetEnd > len(head) || l.targetAt > l.targetEnd {
		return nil
	}
	return head[l.targetAt:l.targetEnd]
}

// headScratch is a loop's buffers for head writing.
type headScratch struct {
	// The Otoroshi-Request-Timestamp of the last millisecond formatted.
	tsMs  int64
	tsLen int
	ts    [40]byte

	page []byte // an error page with its inserted fields (insertHeaders)
}

// appendRequestHead appends to dst the head forwarded upstream for cc's
// request parsed from buf: the request line with the route's path rewrite,
// the end-to-end fields, Host, X-Forwarded-*, and the framing fields the
// proxy regenerates. Hop-by-hop fields (RFC 9110 §7.6.1: the fixed list and
// the names in Connection) are dropped. The proxy always speaks HTTP/1.1
// upstream. Runs on the loop; buf is only read.
func (lp *loop) appendRequestHead(dst []byte, cc *clientConn, buf []byte, rt *route.Compiled, up *route.Upstream) []byte {
	req := &lp.req
	l := &cc.layout
	dst = append(dst, req.Method.Bytes(buf)...)
	dst = append(dst, ' ')
	l.targetAt = len(dst)
	switch req.Form {
	case httpparse.FormAsterisk:
		dst = append(dst, '*')
	case httpparse.FormAuthority:
		dst = append(dst, req.Target.Bytes(buf)...)
	default:
		path := req.Path.Bytes(buf)
		if len(path) == 0 {
			path = slash
		}
		if cc.pol.canary {
			dst = rt.RewriteCanaryPath(dst, path)
		} else {
			dst = rt.RewritePath(dst, path)
		}
		if req.Query.Len() > 0 {
			dst = append(dst, '?')
			dst = append(dst, req.Query.Bytes(buf)...)
		}
	}
	l.targetEnd = len(dst)
	dst = append(dst, " HTTP/1.1\r\n"...)

	trust := lp.s.cfg.TrustForwarded
	var xff, xfp, xfh httpparse.Span
	var hasXFF, hasXFP, hasXFH bool
	for i := range req.Headers {
		h := &req.Headers[i]
		if h.Flags&(httpparse.FlagHopByHop|httpparse.FlagFraming) != 0 {
			continue
		}
		if cc.pol.ndrop > 0 && cc.pol.dropped(i) {
			continue // credentials stay with the proxy
		}
		name := h.Name.Bytes(buf)
		if !cc.pol.keepUnderscores && bytes.IndexByte(name, '_') >= 0 {
			continue // underscoresInHeaders off (Global.UnderscoresInHeaders)
		}
		if cc.pol.chain.DropRequest(name, &cc.pol.px) {
			continue // RemoveHeadersIn, replaced by the route's plugins
		}
		switch len(name) {
		case 4:
			if httpparse.EqualFold(name, "host") {
				continue // regenerated below
			}
		case 15:
			if httpparse.EqualFold(name, "x-forwarded-for") {
				if !hasXFF {
					xff, hasXFF = h.Value, true
				}
				continue
			}
		case 16:
			if httpparse.EqualFold(name, "x-forwarded-host") {
				if !hasXFH {
					xfh, hasXFH = h.Value, true
				}
				continue
			}
		case 17:
			if httpparse.EqualFold(name, "x-forwarded-proto") {
				if !hasXFP {
					xfp, hasXFP = h.Value, true
				}
				continue
			}
		}
		if len(name) >= len(hdrRequestID) && lp.s.obs.headersIn && isOtoroshiInHeader(name) {
			continue // replaced by ours below
		}
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		dst = append(dst, h.Value.Bytes(buf)...)
		dst = append(dst, "\r\n"...)
	}

	host := req.Host.Bytes(buf)
	dst = append(dst, "Host: "...)
	l.hostAt = len(dst)
	l.hostFromTarget = (len(host) == 0 || cc.pol.overrideHost) && !cc.pol.chain.HasHost(&cc.pol.px)
	if cc.pol.chain.HasHost(&cc.pol.px) {
		dst = cc.pol.chain.AppendHost(dst, lp.pluginCtx(cc, rt, buf))
	} else if l.hostFromTarget {
		dst = append(dst, up.HostPort...)
	} else {
		dst = append(dst, host...)
	}
	l.hostEnd = len(dst)
	if cc.pol.xForwarded {
		dst = append(dst, "\r\nX-Forwarded-For: "...)
		if trust && hasXFF {
			dst = append(dst, xff.Bytes(buf)...)
			dst = append(dst, ", "...)
		}
		dst = cc.remote.AppendTo(dst)
		dst = append(dst, "\r\nX-Forwarded-Proto: "...)
		switch {
		case trust && hasXFP:
			dst = append(dst, xfp.Bytes(buf)...)
		case cc.tls:
			dst = append(dst, "https"...)
		default:
			dst = append(dst, "http"...)
		}
		if trust && hasXFH {
			dst = append(dst, "\r\nX-Forwarded-Host: "...)
			dst = append(dst, xfh.Bytes(buf)...)
		} else if len(host) > 0 {
			dst = append(dst, "\r\nX-Forwarded-Host: "...)
			dst = append(dst, host...)
		}
	}
	dst = append(dst, "\r\n"...)
	dst = lp.appendOtoroshiIn(dst, cc, host)
	if cc.pol.chain != nil {
		dst = cc.pol.chain.AppendRequest(dst, lp.pluginCtx(cc, rt, buf), &cc.pol.px)
	}
	if cc.upgrade {
		// Only websocket, whatever else the client offered (upgrade.go).
		dst = append(dst, "Connection: Upgrade\r\nUpgrade: websocket\r\n"...)
	}
	switch req.Framing {
	case httpparse.FramingLength:
		dst = append(dst, "Content-Length: "...)
		dst = itoa(dst, req.ContentLength)
		dst = append(dst, "\r\n"...)
	case httpparse.FramingChunked:
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	}
	return append(dst, "\r\n"...)
}

var slash = []byte("/")

// headKind is the kind of response head being written to the client.
type headKind uint8

const (
	headFinal   headKind = iota // a final response, with the framing of us.out
	headUpgrade                 // a 101: Connection and Upgrade are kept
	headTunnel                  // a 2xx to CONNECT: no framing, a tunnel follows
)

// appendResponseHead appends to dst the head sent to the client for the
// response us parsed from buf: the status line, the end-to-end fields and the
// framing chosen in us.out, then (final heads only) the Otoroshi headers
// back, the policy headers and Connection. 1xx heads get no framing fields.
//
// Runs on the loop. It only reads buf (us's peeked inbound bytes, alive for
// the call) and copies what it needs into dst: the result refers to nothing
// in buf. dst is the caller's (lp.scratch in practice, dead after the Write
// that sends it). It never fails and writes to no connection.
func (lp *loop) appendResponseHead(dst []byte, us *upstreamConn, cc *clientConn, buf []byte, kind headKind) []byte {
	resp := &us.resp
	dst = append(dst, "HTTP/1.1 "...)
	dst = itoa(dst, int64(resp.Status))
	dst = append(dst, ' ')
	dst = append(dst, resp.Reason.Bytes(buf)...)
	dst = append(dst, "\r\n"...)
	for i := range resp.Headers {
		h := &resp.Headers[i]
		if h.Flags&(httpparse.FlagHopByHop|httpparse.FlagFraming) != 0 {
			continue
		}
		name := h.Name.Bytes(buf)
		if len(name) >= len(hdrRequestID) && lp.s.obs.headersBack && isOtoroshiBackHeader(name) {
			continue // replaced by ours (appendOtoroshiBack)
		}
		if cc.pol.chain.DropResponse(name, &cc.pol.px) {
			continue // RemoveHeadersOut, replaced by the route's plugins
		}
		value := h.Value.Bytes(buf)
		if us.out == outGzip {
			if httpparse.EqualFold(name, "content-encoding") {
				continue // identity, replaced by gzip
			}
			if httpparse.EqualFold(name, "etag") && len(value) > 0 && value[0] == '"' {
				dst = append(dst, "ETag: W/"...) // the compressed bytes differ: a weak validator
				dst = append(dst, value...)
				dst = append(dst, "\r\n"...)
				continue
			}
		}
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		dst = append(dst, value...)
		dst = append(dst, "\r\n"...)
	}
	if kind == headTunnel {
		return append(dst, "\r\n"...)
	}
	if kind == headUpgrade {
		dst = append(dst, "Connection: Upgrade\r\n"...)
		if v, ok := resp.Lookup(buf, "upgrade"); ok {
			dst = append(dst, "Upgrade: "...)
			dst = append(dst, v.Bytes(buf)...)
			dst = append(dst, "\r\n"...)
		}
		return append(dst, "\r\n"...)
	}
	if resp.Status < 200 {
		return append(dst, "\r\n"...)
	}
	dst = lp.appendOtoroshiBack(dst, cc)
	switch us.out {
	case outNone:
		// HEAD and 304 keep the length of the body they stand for.
		if resp.ContentLength >= 0 && resp.Status != 204 {
			dst = append(dst, "Content-Length: "...)
			dst = itoa(dst, resp.ContentLength)
			dst = append(dst, "\r\n"...)
		}
	case outPass:
		if us.framing == httpparse.FramingLength {
			dst = append(dst, "Content-Length: "...)
			dst = itoa(dst, us.left)
			dst = append(dst, "\r\n"...)
		} else {
			dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
		}
	case outChunk:
		dst = append(dst, "Transfer-Encoding: chunked\r\n"...)
	case outGzip:
		dst = append(dst, "Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\nVary: Accept-Encoding\r\n"...)
	}
	dst = appendPolicyHeaders(dst, cc)
	if cc.pol.chain != nil {
		dst = cc.pol.chain.AppendResponse(dst, lp.pluginCtx(cc, cc.rt, nil), &cc.pol.px, resp, buf)
	}
	if !cc.keepAlive {
		dst = append(dst, "Connection: close\r\n"...)
	} else if cc.http10 {
		dst = append(dst, "Connection: keep-alive\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// Otoroshi header names.
const (
	hdrRequestID        = "Otoroshi-Request-Id"
	hdrProxiedHost      = "Otoroshi-Proxied-Host"
	hdrRequestTimestamp = "Otoroshi-Request-Timestamp"
	hdrProxyLatency     = "Otoroshi-Proxy-Latency"
	hdrUpstreamLatency  = "Otoroshi-Upstream-Latency"
)

// isOtoroshiInHeader reports whether name is one of the fields
// appendOtoroshiIn sets: a client's own copies are dropped so that a backend
// never sees two of them (or a forged id).
func isOtoroshiInHeader(name []byte) bool {
	switch len(name) {
	case len(hdrRequestID):
		return httpparse.EqualFold(name, "otoroshi-request-id")
	case len(hdrProxiedHost):
		return httpparse.EqualFold(name, "otoroshi-proxied-host")
	case len(hdrRequestTimestamp):
		return httpparse.EqualFold(name, "otoroshi-request-timestamp")
	}
	return false
}

// isOtoroshiBackHeader reports whether name is one of the fields
// appendOtoroshiBack sets: a backend's own copies are dropped so that a
// client never sees two of them.
func isOtoroshiBackHeader(name []byte) bool {
	switch len(name) {
	case len(hdrRequestID):
		return httpparse.EqualFold(name, "otoroshi-request-id")
	case len(hdrRequestTimestamp):
		return httpparse.EqualFold(name, "otoroshi-request-timestamp")
	case len(hdrProxyLatency):
		return httpparse.EqualFold(name, "otoroshi-proxy-latency")
	case len(hdrUpstreamLatency):
		return httpparse.EqualFold(name, "otoroshi-upstream-latency")
	}
	return false
}

// appendOtoroshiIn appends the OtoroshiHeadersIn fields of cc's exchange to
// a forwarded head: request id, proxied host (host is the client's Host
// value) and timestamp.
func (lp *loop) appendOtoroshiIn(dst []byte, cc *clientConn, host []byte) []byte {
	if !lp.s.obs.headersIn {
		return dst
	}
	dst = append(dst, hdrRequestID+": "...)
	dst = event.AppendID(dst, cc.obs.id)
	if len(host) > 0 {
		dst = append(dst, "\r\n"+hdrProxiedHost+": "...)
		dst = append(dst, host...)
	}
	dst = append(dst, "\r\n"+hdrRequestTimestamp+": "...)
	dst = append(dst, lp.timestamp(cc.obs.start)...)
	return append(dst, "\r\n"...)
}

// appendOtoroshiBack appends the SendOtoroshiHeadersBack fields to the final
// response head of cc's exchange: request id, timestamp, our overhead and
// the backend's latency until its response head, in milliseconds.
func (lp *loop) appendOtoroshiBack(dst []byte, cc *clientConn) []byte {
	o := &cc.obs
	if !lp.s.obs.headersBack || !o.active {
		return dst
	}
	upstream := int64(0)
	if o.backend > 0 && o.respAt > o.backend {
		upstream = o.respAt - o.backend
	}
	proxy := o.respAt - o.start - upstream
	dst = append(dst, hdrRequestID+": "...)
	dst = event.AppendID(dst, o.id)
	dst = append(dst, "\r\n"+hdrRequestTimestamp+": "...)
	dst = append(dst, lp.timestamp(o.start)...)
	dst = append(dst, "\r\n"+hdrProxyLatency+": "...)
	dst = itoa(dst, max(proxy, 0)/1e6)
	dst = append(dst, "\r\n"+hdrUpstreamLatency+": "...)
	dst = itoa(dst, upstream/1e6)
	return append(dst, "\r\n"...)
}

// timestampLayout is Otoroshi's request timestamp (Joda
// "yyyy-MM-dd'T'HH:mm:ss.SSSZZ"), written in UTC.
const timestampLayout = "2006-01-02T15:04:05.000-07:00"

// timestamp returns the formatted wall-clock time of the server instant at
// (ns). The result is cached per millisecond and valid until the next call
// on this loop. 0 allocs.
func (lp *loop) timestamp(at int64) []byte {
	wall := lp.s.obs.startWall + at
	ms := wall / 1e6
	if ms != lp.heads.tsMs {
		b := time.Unix(0, wall).UTC().AppendFormat(lp.heads.ts[:0], timestampLayout)
		lp.heads.tsLen = len(b)
		lp.heads.tsMs = ms
	}
	return lp.heads.ts[:lp.heads.tsLen]
}

// appendPolicyHeaders appends to a final response head the fields the
// policy steps add: the quota headers when a key was counted, the
// otoroshi-tracking cookie when one was made up.
func appendPolicyHeaders(dst []byte, cc *clientConn) []byte {
	if cc.pol.counted {
		dst = apikey.AppendQuotaHeaders(dst, cc.pol.rem)
	}
	dst = appendCanaryCookie(dst, cc)
	if cc.pol.ntracking > 0 {
		dst = append(dst, "Set-Cookie: "+route.TrackingCookie+"="...)
		dst = append(dst, cc.pol.tracking[:cc.pol.ntracking]...)
		dst = append(dst, "; Path=/; Max-Age="+trackingMaxAge+"; HttpOnly\r\n"...)
	}
	return dst
}

// retargetHost rewrites the Host value of cc.head for target up when it
// came from the previous target (OverrideHost, or a request without Host).
func (lp *loop) retargetHost(cc *clientConn, up *route.Upstream) {
	l := &cc.layout
	if !l.hostFromTarget || l.hostEnd > len(cc.head) || l.hostAt > l.hostEnd {
		return
	}
	if string(cc.head[l.hostAt:l.hostEnd]) == up.HostPort {
		return
	}
	dst := append(lp.scratch[:0], cc.head[:l.hostAt]...)
	dst = append(dst, up.HostPort...)
	dst = append(dst, cc.head[l.hostEnd:]...)
	lp.scratch = dst
	cc.head = append(cc.head[:0], dst...)
	l.hostEnd = l.hostAt + len(up.HostPort)
}

// insertHeaders returns the rendered error page of k (errorPage) with the
// fields of cc's exchange inserted at the end of its head: for a 429,
// Retry-After and the quota headers of a counted key; the exchange's
// Otoroshi-Request-Id when the headers go back to clients. It returns page
// itself when there is nothing to insert, else a copy built in the loop's
// page buffer, valid until the next call on this loop. On the loop; no
// allocation once the buffer has grown.
func (lp *loop) insertHeaders(cc *clientConn, k errKind, page []byte) []byte {
	quota := k == errTooManyRequests
	if !quota && !lp.s.obs.headersBack {
		return page
	}
	end := bytes.Index(page, crlfcrlf)
	if end < 0 {
		panic("BUG: rendered error page without a head end")
	}
	dst := append(lp.heads.page[:0], page[:end+2]...)
	if quota {
		dst = append(dst, "Retry-After: "...)
		dst = strconv.AppendInt(dst, int64(max(cc.pol.retryAfter, 1)), 10)
		dst = append(dst, "\r\n"...)
		if cc.pol.counted {
			dst = apikey.AppendQuotaHeaders(dst, cc.pol.rem)
		}
	}
	if lp.s.obs.headersBack {
		dst = append(dst, hdrRequestID+": "...)
		dst = event.AppendID(dst, cc.obs.id)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, page[end+2:]...)
	lp.heads.page = dst
	return dst
}

var crlfcrlf = []byte("\r\n\r\n")
