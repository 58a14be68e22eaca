package event

import (
	"strconv"
	"unicode/utf8"

	"github.com/torii-gateway/torii/httpparse"
)

// DefaultEnv is the @env of events when Options.Env is empty.
const DefaultEnv = "prod"

var methodNames = [...]string{
	httpparse.MethodGet:     "GET",
	httpparse.MethodHead:    "HEAD",
	httpparse.MethodPost:    "POST",
	httpparse.MethodPut:     "PUT",
	httpparse.MethodDelete:  "DELETE",
	httpparse.MethodConnect: "CONNECT",
	httpparse.MethodOptions: "OPTIONS",
	httpparse.MethodTrace:   "TRACE",
	httpparse.MethodPatch:   "PATCH",
}

// AppendGatewayEvent appends rec as one Otoroshi GatewayEvent JSON object
// with event id eventID and environment env. Times are Unix milliseconds and
// durations milliseconds, as Otoroshi sends them: @callAt is when the request
// started, @timestamp when the exchange ended. It reads rec and must run
// on the consumer side, before the slot is released.
func AppendGatewayEvent(dst []byte, rec *Record, eventID uint64, env string) []byte {
	startMs := rec.Start / 1e6
	toScheme, targetScheme := "http", "http"
	if rec.Flags&FlagTLS != 0 {
		toScheme = "https"
	}
	if rec.Flags&FlagTargetTLS != 0 {
		targetScheme = "https"
	}
	dst = append(dst, `{"@type":"GatewayEvent","@id":"`...)
	dst = strconv.AppendUint(dst, eventID, 10)
	dst = append(dst, `","@timestamp":`...)
	dst = strconv.AppendInt(dst, (rec.Start+rec.Duration)/1e6, 10)
	dst = append(dst, `,"@callAt":`...)
	dst = strconv.AppendInt(dst, startMs, 10)
	dst = append(dst, `,"reqId":"`...)
	dst = strconv.AppendUint(dst, rec.ReqID, 10)
	dst = append(dst, `","parentReqId":null,"protocol":`...)
	dst = appendProtocol(dst, rec.Version)
	dst = append(dst, `,"to":{"scheme":"`...)
	dst = append(dst, toScheme...)
	dst = append(dst, `","host":`...)
	dst = appendJSONBytes(dst, rec.Host())
	dst = append(dst, `,"uri":`...)
	dst = appendJSONBytes(dst, rec.URI())
	dst = append(dst, `},"target":{"scheme":"`...)
	dst = append(dst, targetScheme...)
	dst = append(dst, `","host":`...)
	dst = appendJSONString(dst, rec.TargetHost)
	dst = append(dst, `,"uri":`...)
	dst = appendJSONBytes(dst, rec.TargetURI())
	dst = append(dst, `},"url":"`...)
	dst = append(dst, toScheme...)
	dst = append(dst, "://"...)
	dst = appendJSONInner(dst, rec.Host())
	dst = appendJSONInner(dst, rec.URI())
	dst = append(dst, `","method":`...)
	if int(rec.Method) < len(methodNames) && methodNames[rec.Method] != "" {
		dst = append(dst, '"')
		dst = append(dst, methodNames[rec.Method]...)
		dst = append(dst, '"')
	} else {
		dst = appendJSONBytes(dst, rec.MethodToken())
	}
	dst = append(dst, `,"from":"`...)
	if rec.From.IsValid() {
		dst = rec.From.Unmap().AppendTo(dst)
	}
	dst = append(dst, `","@env":`...)
	dst = appendJSONString(dst, env)
	dst = append(dst, `,"duration":`...)
	dst = strconv.AppendInt(dst, rec.Duration/1e6, 10)
	dst = append(dst, `,"overhead":`...)
	dst = strconv.AppendInt(dst, max(rec.Duration-rec.Backend, 0)/1e6, 10)
	dst = append(dst, `,"backendDuration":`...)
	dst = strconv.AppendInt(dst, rec.Backend/1e6, 10)
	dst = append(dst, `,"callAttempts":`...)
	dst = strconv.AppendUint(dst, uint64(rec.Attempts), 10)
	dst = append(dst, `,"data":{"dataIn":`...)
	dst = strconv.AppendInt(dst, rec.DataIn, 10)
	dst = append(dst, `,"dataOut":`...)
	dst = strconv.AppendInt(dst, rec.DataOut, 10)
	dst = append(dst, `},"status":`...)
	dst = strconv.AppendUint(dst, uint64(rec.Status), 10)
	dst = append(dst, `,"grpcStatus":`...)
	dst = appendGRPCStatus(dst, rec.GRPCStatus)
	dst = append(dst, `,"responseChunked":`...)
	dst = strconv.AppendBool(dst, rec.Flags&FlagChunked != 0)
	dst = append(dst, `,"headers":`...)
	dst = rec.appendHeaders(dst, rec.a.headersIn[:rec.a.nIn])
	dst = append(dst, `,"headersOut":`...)
	dst = rec.appendHeaders(dst, rec.a.headersOut[:rec.a.nOut])
	dst = append(dst, `,"identity":`...)
	dst = appendIdentity(dst, rec.Identity)
	dst = appendClientCert(dst, rec.ClientCert)
	dst = append(dst, `,"gwError":`...)
	if rec.GwError == "" {
		dst = append(dst, "null"...)
	} else {
		dst = appendJSONString(dst, rec.GwError)
	}
	dst = append(dst, `,"err":`...)
	dst = strconv.AppendBool(dst, rec.Flags&FlagError != 0 || rec.GwError != "")
	dst = append(dst, `,"@serviceId":`...)
	dst = appendJSONString(dst, rec.RouteID)
	dst = append(dst, `,"@service":`...)
	dst = appendJSONString(dst, rec.RouteName)
	dst = append(dst, `,"@product":"otoroshi","remainingQuotas":`...)
	dst = appendQuotas(dst, rec.Identity != nil && rec.Identity.Type != IdentityPrivateApp, &rec.Quotas)
	dst = append(dst, `,"truncated":`...)
	dst = strconv.AppendBool(dst, rec.Flags&FlagTruncated != 0)
	return append(dst, '}')
}

// appendGRPCStatus appends the gRPC status code of a Record's GRPCStatus, or null.
func appendGRPCStatus(dst []byte, g uint8) []byte {
	if g == 0 {
		return append(dst, "null"...)
	}
	return strconv.AppendUint(dst, uint64(g-1), 10)
}

// appendClientCert appends Otoroshi's clientCertChain (the subject DNs) and Torii's clientCert
// (subject, SHA-256 fingerprint, verifying CA id), or null.
func appendClientCert(dst []byte, c *ClientCert) []byte {
	if c == nil {
		return append(dst, `,"clientCertChain":[],"clientCert":null`...)
	}
	dst = append(dst, `,"clientCertChain":[`...)
	dst = appendJSONString(dst, c.Subject)
	dst = append(dst, `],"clientCert":{"subject":`...)
	dst = appendJSONString(dst, c.Subject)
	dst = append(dst, `,"fingerprint":`...)
	dst = appendJSONString(dst, c.Fingerprint)
	dst = append(dst, `,"verifiedBy":`...)
	if c.VerifiedBy == "" {
		dst = append(dst, "null"...)
	} else {
		dst = appendJSONString(dst, c.VerifiedBy)
	}
	return append(dst, '}')
}

// appendProtocol appends the protocol as a JSON string.
func appendProtocol(dst []byte, v httpparse.Version) []byte {
	dst = append(dst, '"')
	dst = appendProtocolName(dst, v)
	return append(dst, '"')
}

// appendProtocolName appends "HTTP/1.1" and the like; an unset version reads as HTTP/1.1.
func appendProtocolName(dst []byte, v httpparse.Version) []byte {
	if v == 0 {
		v = httpparse.HTTP11
	}
	dst = append(dst, "HTTP/"...)
	dst = strconv.AppendUint(dst, uint64(v/10), 10)
	dst = append(dst, '.')
	return strconv.AppendUint(dst, uint64(v%10), 10)
}

func (r *Record) appendHeaders(dst []byte, hs []hdrSpan) []byte {
	dst = append(dst, '[')
	for i := range hs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"key":`...)
		dst = appendJSONBytes(dst, r.get(hs[i].name))
		dst = append(dst, `,"value":`...)
		if hs[i].redacted {
			dst = appendJSONString(dst, Redacted)
		} else {
			dst = appendJSONBytes(dst, r.get(hs[i].value))
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func appendIdentity(dst []byte, id *Identity) []byte {
	if id == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"identityType":"`...)
	if id.Type == "" {
		dst = append(dst, IdentityAPIKey...)
	} else {
		dst = append(dst, id.Type...)
	}
	dst = append(dst, `","identity":`...)
	dst = appendJSONString(dst, id.ClientID)
	dst = append(dst, `,"label":`...)
	dst = appendJSONString(dst, id.ClientName)
	dst = append(dst, `,"tags":[`...)
	for i, t := range id.Tags {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, t)
	}
	dst = append(dst, `],"metadata":{`...)
	first := true
	for k, v := range id.Metadata.All() {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, v)
	}
	return append(dst, "}}"...)
}

func appendQuotas(dst []byte, has bool, q *Quotas) []byte {
	if !has {
		return append(dst, "{}"...)
	}
	fields := [...]struct {
		name string
		v    int64
	}{
		{"authorizedCallsPerWindow", q.AuthorizedCallsPerWindow},
		{"throttlingCallsPerWindow", q.ThrottlingCallsPerWindow},
		{"remainingCallsPerWindow", q.RemainingCallsPerWindow},
		{"authorizedCallsPerDay", q.AuthorizedCallsPerDay},
		{"currentCallsPerDay", q.CurrentCallsPerDay},
		{"remainingCallsPerDay", q.RemainingCallsPerDay},
		{"authorizedCallsPerMonth", q.AuthorizedCallsPerMonth},
		{"currentCallsPerMonth", q.CurrentCallsPerMonth},
		{"remainingCallsPerMonth", q.RemainingCallsPerMonth},
	}
	dst = append(dst, '{')
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, f.name...)
		dst = append(dst, `":`...)
		dst = strconv.AppendInt(dst, f.v, 10)
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal; invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendJSONInnerString(dst, s)
	return append(dst, '"')
}

// appendJSONBytes is appendJSONString for bytes.
func appendJSONBytes(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = appendJSONInner(dst, b)
	return append(dst, '"')
}

// jsonSafe marks the ASCII bytes copied as they are into a JSON string:
// everything printable except '"', '\\' and the HTML-sensitive '<', '>', '&'.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// appendJSONInner appends the escaped content of a JSON string, without
// quotes: runs of safe bytes are copied at once.
func appendJSONInner(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		j := i
		for j < len(b) && jsonSafe[b[j]] {
			j++
		}
		dst = append(dst, b[i:j]...)
		if j == len(b) {
			break
		}
		i = j
		if c := b[i]; c < utf8.RuneSelf {
			dst = appendEscapedASCII(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, b[i:i+size]...)
		}
		i += size
	}
	return dst
}

// appendJSONInnerString is appendJSONInner for a string.
func appendJSONInnerString(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && jsonSafe[s[j]] {
			j++
		}
		dst = append(dst, s[i:j]...)
		if j == len(s) {
			break
		}
		i = j
		if c := s[i]; c < utf8.RuneSelf {
			dst = appendEscapedASCII(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

// appendEscapedASCII escapes ", \ and control characters (RFC 8259 §7), and
// <, >, & as encoding/json does, so events are safe to embed in HTML.
func appendEscapedASCII(dst []byte, c byte) []byte {
	switch {
	case c == '"' || c == '\\':
		return append(dst, '\\', c)
	case c == '\n':
		return append(dst, '\\', 'n')
	case c == '\r':
		return append(dst, '\\', 'r')
	case c == '\t':
		return append(dst, '\\', 't')
	case c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f:
		return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
	}
	return append(dst, c)
}
