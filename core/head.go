package core

import (
	"bytes"

	"github.com/torii-gateway/torii/core/route"
	"github.com/torii-gateway/torii/httpparse"
)

// appendRequestHead appends to dst the head forwarded upstream for cc's
// request parsed from buf: the request line with the route's path rewrite,
// the end-to-end fields, Host, X-Forwarded-*, and the framing fields the
// proxy regenerates. Hop-by-hop fields (RFC 9110 §7.6.1: the fixed list and
// the names in Connection) are dropped. The proxy always speaks HTTP/1.1
// upstream. Runs on the loop; buf is only read.
func (lp *loop) appendRequestHead(dst []byte, cc *clientConn, buf []byte, rt *route.Compiled, up *route.Upstream) []byte {
	req := &lp.req
	dst = append(dst, req.Method.Bytes(buf)...)
	dst = append(dst, ' ')
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
		dst = rt.RewritePath(dst, path)
		if req.Query.Len() > 0 {
			dst = append(dst, '?')
			dst = append(dst, req.Query.Bytes(buf)...)
		}
	}
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
	cc.pol.hostAt = len(dst)
	cc.pol.hostFromTarget = len(host) == 0 || overridesHost(rt)
	if cc.pol.hostFromTarget {
		dst = append(dst, up.HostPort...)
	} else {
		dst = append(dst, host...)
	}
	cc.pol.hostEnd = len(dst)
	dst = append(dst, "\r\nX-Forwarded-For: "...)
	if trust && hasXFF {
		dst = append(dst, xff.Bytes(buf)...)
		dst = append(dst, ", "...)
	}
	dst = cc.remote.AppendTo(dst)
	dst = append(dst, "\r\nX-Forwarded-Proto: "...)
	if trust && hasXFP {
		dst = append(dst, xfp.Bytes(buf)...)
	} else {
		dst = append(dst, "http"...)
	}
	if trust && hasXFH {
		dst = append(dst, "\r\nX-Forwarded-Host: "...)
		dst = append(dst, xfh.Bytes(buf)...)
	} else if len(host) > 0 {
		dst = append(dst, "\r\nX-Forwarded-Host: "...)
		dst = append(dst, host...)
	}
	dst = append(dst, "\r\n"...)
	dst = lp.appendOtoroshiIn(dst, cc, host)
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

// overridesHost reports whether the route sends the target's host:port as
// Host (Otoroshi's OverrideHost plugin) instead of the client's Host.
func overridesHost(rt *route.Compiled) bool {
	for i := range rt.Steps {
		if rt.Steps[i].Name == "OverrideHost" {
			return true
		}
	}
	return false
}

// headKind is the kind of response head being written to the client.
type headKind uint8

const (
	headFinal   headKind = iota // a final response, with the framing of us.out
	headUpgrade                 // a 101: Connection and Upgrade are kept
	headTunnel                  // a 2xx to CONNECT: no framing, a tunnel follows
)

// appendResponseHead appends to dst the head sent to the client for the
// response us parsed from buf: the status line, the end-to-end fields and the
// framing chosen in us.out. 1xx heads get no framing fields.
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
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		dst = append(dst, h.Value.Bytes(buf)...)
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
	}
	dst = appendPolicyHeaders(dst, cc)
	if !cc.keepAlive {
		dst = append(dst, "Connection: close\r\n"...)
	} else if cc.http10 {
		dst = append(dst, "Connection: keep-alive\r\n"...)
	}
	return append(dst, "\r\n"...)
}
