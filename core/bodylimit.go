package core

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/torii-gateway/torii/httpparse"
)

// Request and response bodies are bounded in time and in size.
//
// Time (slow uploads): while a request body is read on the loop, the upload
// timer fires at the earlier of
//   - BodyTimeout after the last bytes arrived (nginx's client_body_timeout),
//   - BodyTimeout after the body began, plus one second per BodyMinRate bytes
//     received so far (Apache mod_reqtimeout's MinRate): a client trickling
//     a large body at 10 B/s is cut off after about BodyTimeout, one that
//     keeps up at least BodyMinRate never is.
//
// The answer is a 408 when no response began, else the connection closes. An
// upload moved to a pump goroutine is held back by its backend, not by the
// client, and is bounded by the call timeout instead.
//
// Size: a request body is bounded by Config.MaxRequestBody and by the route's
// RequestBodyLengthLimiter plugin (Otoroshi's, bodysize.scala: max_length,
// default 4 MiB), whichever is smaller; a response body by the route's
// ResponseBodyLengthLimiter. A Content-Length over the bound is answered 413
// before any byte goes to the backend (request) or to the client (response);
// a chunked or close-delimited body is counted as it is relayed and the
// exchange is aborted when it goes over: 413 when no response began, else
// the client connection closes, like Otoroshi's limitWeighted stream
// failing. Otoroshi's fail: false truncates the body to max_length instead,
// silently: Torii refuses in both cases, since a truncated request body is a
// corrupted request for the backend and a truncated response one for the
// client. In a pump, a chunked body is counted on the wire, chunk framing
// included.

// bodyState is the body accounting of a client's current exchange.
type bodyState struct {
	at      int64 // ms, when the request body began to be read
	got     int64 // request body bytes read from the client
	reqMax  int64 // request body bound, < 0: none
	respMax int64 // response body bound, < 0: none
	sent    int64 // response body bytes relayed
}

// bodyLimiter is one compiled RequestBodyLengthLimiter or
// ResponseBodyLengthLimiter step.
type bodyLimiter struct {
	max int64
}

// defaultBodyLimiterMax is Otoroshi's max_length when the config has none.
const defaultBodyLimiterMax = 4 << 20

// compileBodyLimiter reads a body length limiter's config: {"max_length":
// bytes, "fail": bool}, both optional (see above for fail).
func compileBodyLimiter(name string, raw json.RawMessage) (*bodyLimiter, error) {
	var cfg struct {
		MaxLength *int64 `json:"max_length"`
		Fail      *bool  `json:"fail"`
	}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, fmt.Errorf("cannot read the %s config: %w", name, err)
		}
	}
	l := &bodyLimiter{max: defaultBodyLimiterMax}
	if cfg.MaxLength != nil {
		if *cfg.MaxLength < 0 {
			return nil, fmt.Errorf("%s: max_length must not be negative, got %d", name, *cfg.MaxLength)
		}
		l.max = *cfg.MaxLength
	}
	return l, nil
}

// beginBodies sets the body bounds of cc's exchange from the server default
// and rt's policy rp (nil: none), and checks a request Content-Length
// against them. It reports false when the request must be refused (413). On
// the loop.
func (lp *loop) beginBodies(cc *clientConn, rp *routePolicy) bool {
	cc.body = bodyState{reqMax: lp.s.cfg.MaxRequestBody, respMax: -1}
	if rp != nil {
		if l := rp.reqBody; l != nil && (cc.body.reqMax < 0 || l.max < cc.body.reqMax) {
			cc.body.reqMax = l.max
		}
		if l := rp.respBody; l != nil {
			cc.body.respMax = l.max
		}
	}
	return cc.reqFraming != httpparse.FramingLength || !over(cc.body.reqMax, cc.reqLeft)
}

// over reports whether n bytes exceed the bound lim (< 0: none).
func over(lim, n int64) bool { return lim >= 0 && n > lim }

// requestBody counts n more request body bytes; false means the bound is
// exceeded and the exchange was aborted.
func (lp *loop) requestBody(cc *clientConn, n int64) bool {
	cc.body.got += n
	if over(cc.body.reqMax, cc.body.got) {
		lp.abortExchange(cc, errRequestTooLarge)
		return false
	}
	return true
}

// responseBody counts n more response body bytes; false means the bound is
// exceeded and the exchange was aborted.
func (lp *loop) responseBody(cc *clientConn, n int64) bool {
	cc.body.sent += n
	if over(cc.body.respMax, cc.body.sent) {
		lp.abortExchange(cc, errResponseTooLarge)
		return false
	}
	return true
}

// responseLengthOK checks a response Content-Length against the bound.
func (cc *clientConn) responseLengthOK(n int64) bool { return !over(cc.body.respMax, n) }

// armUpload arms the upload timer of cc, reading its request body (see
// above).
func (lp *loop) armUpload(cc *clientConn) {
	cfg := &lp.s.cfg
	now := lp.s.now()
	limit := cfg.BodyTimeout.Milliseconds()
	d := now + limit
	if r := int64(cfg.BodyMinRate); r > 0 {
		d = min(d, cc.body.at+limit+cc.body.got*1000/r)
	}
	lp.armExchange(cc, tkUpload, d-now)
}

// limitReader reads from r until more than left bytes went through, then
// fails with errBodyTooLarge. For pumps.
type limitReader struct {
	r    io.Reader
	left int64 // < 0: no limit
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if l.left >= 0 {
		l.left -= int64(n)
		if l.left < 0 {
			return n + int(l.left), errBodyTooLarge // the bytes within the bound only
		}
	}
	return n, err
}

// bodyBudget is what a pump may still relay under the bound lim after done
// bytes; -1: no limit.
func bodyBudget(lim, done int64) int64 {
	if lim < 0 {
		return -1
	}
	return max(lim-done, 0)
}

// tighter returns the smaller bound of a and b (a may be nil): a route
// listing a limiter twice gets both.
func tighter(a, b *bodyLimiter) *bodyLimiter {
	if a == nil || b.max < a.max {
		return b
	}
	return a
}
