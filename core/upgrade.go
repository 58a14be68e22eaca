package core

import "github.com/torii-gateway/torii/httpparse"

// The proxy tunnels one protocol upgrade, WebSocket (RFC 6455). Any other
// token a client offers in Upgrade (h2c, an unknown protocol, a list of
// several) is not relayed: relaying it would let the client switch the
// backend connection to a protocol the gateway does not speak, behind its
// checks (the "h2c smuggling" class: Upgrade: h2c with HTTP2-Settings gives
// the client a raw HTTP/2 connection to the backend). So Upgrade is always
// hop-by-hop (httpparse flags it, and HTTP2-Settings, and every field the
// Connection header names), and the only Upgrade the backend ever sees is the
// one the proxy writes itself, "websocket", when the client offered it among
// its tokens. A backend answering 101 gets a 502 unless that was the offer and
// its answer names websocket too.

// offersWebSocket reports whether the request asks for an upgrade (Connection:
// upgrade and an Upgrade field, req.Upgrade) and one of the tokens of its
// Upgrade fields is websocket, in any case, without a version. buf holds the
// request; on the loop.
func offersWebSocket(req *httpparse.Request, buf []byte) bool {
	if !req.Upgrade {
		return false
	}
	for i := range req.Headers {
		h := &req.Headers[i]
		if httpparse.EqualFold(h.Name.Bytes(buf), "upgrade") && hasToken(h.Value.Bytes(buf), "websocket") {
			return true
		}
	}
	return false
}

// answersWebSocket reports whether a 101 response switches to websocket.
func answersWebSocket(resp *httpparse.Response, buf []byte) bool {
	v, ok := resp.Lookup(buf, "upgrade")
	return ok && hasToken(v.Bytes(buf), "websocket")
}

// hasToken reports whether the comma-separated list v (RFC 9110 §5.6.1:
// optional whitespace around the commas, empty elements allowed) has an
// element equal to tok, ignoring ASCII case.
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		el := v[:i]
		for len(el) > 0 && (el[0] == ' ' || el[0] == '\t') {
			el = el[1:]
		}
		for len(el) > 0 && (el[len(el)-1] == ' ' || el[len(el)-1] == '\t') {
			el = el[:len(el)-1]
		}
		if httpparse.EqualFold(el, tok) {
			return true
		}
		if i == len(v) {
			break
		}
		v = v[i+1:]
	}
	return false
}
