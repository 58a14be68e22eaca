package core

import (
	"time"

	"github.com/torii-gateway/torii/core/plugin"
	"github.com/torii-gateway/torii/core/route"
)

// Route plugins (package plugin): the engine calls a route's compiled
// plugin.Chain at five points, each a nil check when the route has none:
//
//   - policy: Chain.Access after the global checks, before the API key;
//     a refusal is an error page (pluginKinds), a redirection or a CORS
//     preflight an answer built in the loop's page buffer (pluginAnswer);
//   - appendRequestHead: DropRequest for each client field, the Host of
//     AdditionalHeadersIn, AppendRequest after the Otoroshi headers in;
//   - readResponseHead: CheckResponse (OtoroshiChallenge) before any
//     response byte goes to the client; a failure is 502
//     errors.service.not.secured and the upstream connection is closed;
//   - appendResponseHead: DropResponse for each backend field,
//     AppendResponse with the policy headers.
//
// The chain's per-exchange state (the challenge's state value) lives in
// cc.pol.px.

// pluginKinds maps a plugin refusal to its error page.
var pluginKinds = [plugin.Refusals]errKind{
	plugin.RefusalMaintenance:     errMaintenance,
	plugin.RefusalBuild:           errBuildMode,
	plugin.RefusalHTTP10:          errHTTP10,
	plugin.RefusalMethod:          errMethodNotAllowed,
	plugin.RefusalIP:              errIPNotAllowed,
	plugin.RefusalCors:            errCors,
	plugin.RefusalHeaders:         errHeadersInvalid,
	plugin.RefusalNotSecured:      errNotSecured,
	plugin.RefusalTokenMissing:    errTokenMissing,
	plugin.RefusalBadToken:        errBadToken,
	plugin.RefusalVerifierMissing: errVerifierMissing,
	plugin.RefusalClientCert:      errClientCert,
	plugin.RefusalMisdirected:     errMisdirected,
}

func init() {
	for r := plugin.Refusal(1); r < plugin.Refusals; r++ {
		k := pluginKinds[r]
		if k == 0 || errorInfo[k].status != plugin.RefusalInfo[r].Status || errorInfo[k].cause != plugin.RefusalInfo[r].Cause {
			panic("BUG: plugin refusal without a matching error page")
		}
	}
}

// pluginCtx fills the loop's plugin context for cc's exchange. buf is the
// request's bytes, or nil once they are gone (response hooks). On the loop.
func (lp *loop) pluginCtx(cc *clientConn, rt *route.Compiled, buf []byte) *plugin.Ctx {
	x := &lp.plugCtx
	x.Req = &lp.req
	x.Buf = buf
	if buf == nil {
		x.Req = nil
	}
	x.Remote = cc.pol.clientIP
	x.ID = cc.obs.id
	x.Key = cc.pol.key
	x.User = cc.pol.user
	x.Route = rt
	x.Now = time.Now()
	x.TLS = cc.tls
	x.SNI, x.Cert = "", plugin.ClientCert{}
	if p := cc.peer; p != nil {
		x.SNI = p.ServerName
		x.Cert = plugin.ClientCert{Present: p.ClientCert, Subject: p.ClientSubject, Fingerprint: p.ClientFingerprint,
			VerifiedBy: p.ClientVerifiedBy, Serial: p.ClientSerial, Issuer: p.ClientIssuer}
	}
	x.HTTPSPort = lp.s.cfg.HTTPSPort
	return x
}

// pluginAccess runs the route's access plugins for cc's request in buf.
func (lp *loop) pluginAccess(cc *clientConn, snap *Snapshot, ch *plugin.Chain, rt *route.Compiled, buf []byte) (errKind, bool) {
	x := lp.pluginCtx(cc, rt, buf)
	x.Verifiers = snap.JWT
	v := ch.Access(x, &cc.pol.px)
	if v.Refuse != plugin.RefusalNone {
		return pluginKinds[v.Refuse], false
	}
	if v.Respond {
		// Rendered now: the request's bytes are consumed before the page
		// is written.
		lp.pol.answer = v.AppendAnswer(lp.pol.answer[:0], x)
		cc.pol.answerStatus = v.Status()
		return errPluginAnswer, false
	}
	return 0, true
}

// pluginAnswer completes the answer pluginAccess rendered: an empty body,
// and Connection: close when the connection closes after it. Valid until
// the next pluginAccess on this loop.
func (lp *loop) pluginAnswer(closing bool) []byte {
	dst := append(lp.pol.answer, "Content-Length: 0\r\n"...)
	if closing {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	lp.pol.answer = dst
	return dst
}
