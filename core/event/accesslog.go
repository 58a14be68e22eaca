package event

import (
	"bufio"
	"strconv"
	"time"
)

// AccessLogFormat selects the access log line format.
type AccessLogFormat string

const (
	// AccessLogJSON writes one JSON object per request (the default).
	AccessLogJSON AccessLogFormat = "json"
	// AccessLogCommon writes the Common Log Format:
	// host ident authuser [date] "request-line" status bytes
	// with the API key client id as authuser.
	AccessLogCommon AccessLogFormat = "common"
)

const clfTime = "02/Jan/2006:15:04:05 -0700"

// accessLogger writes access log lines on the drain goroutine.
type accessLogger struct {
	w      *bufio.Writer
	format AccessLogFormat
	buf    []byte
}

func (a *accessLogger) write(rec *Record) {
	if a.format == AccessLogCommon {
		a.buf = appendCommonLog(a.buf[:0], rec)
	} else {
		a.buf = appendJSONLog(a.buf[:0], rec)
	}
	a.buf = append(a.buf, '\n')
	_, _ = a.w.Write(a.buf) // a failing writer is reported by Flush
}

func appendCommonLog(b []byte, rec *Record) []byte {
	if rec.From.IsValid() {
		b = rec.From.Unmap().AppendTo(b)
	} else {
		b = append(b, '-')
	}
	b = append(b, " - "...)
	if rec.Identity != nil && rec.Identity.ClientID != "" {
		b = appendCLFToken(b, []byte(rec.Identity.ClientID))
	} else {
		b = append(b, '-')
	}
	b = append(b, " ["...)
	b = time.Unix(0, rec.Start).UTC().AppendFormat(b, clfTime)
	b = append(b, `] "`...)
	if int(rec.Method) < len(methodNames) && methodNames[rec.Method] != "" {
		b = append(b, methodNames[rec.Method]...)
	} else {
		b = appendCLFToken(b, rec.MethodToken())
	}
	b = append(b, ' ')
	b = appendCLFToken(b, rec.URI())
	b = append(b, ' ')
	b = appendProtocolName(b, rec.Version)
	b = append(b, `" `...)
	b = strconv.AppendUint(b, uint64(rec.Status), 10)
	b = append(b, ' ')
	if rec.DataOut > 0 {
		b = strconv.AppendInt(b, rec.DataOut, 10)
	} else {
		b = append(b, '-')
	}
	return b
}

// appendCLFToken appends b with bytes that would break a CLF line (control
// characters, '"', '\\', and non-ASCII) escaped as \xHH.
func appendCLFToken(dst, b []byte) []byte {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

func appendJSONLog(b []byte, rec *Record) []byte {
	b = append(b, `{"@timestamp":`...)
	b = strconv.AppendInt(b, rec.Start/1e6, 10)
	b = append(b, `,"reqId":"`...)
	b = strconv.AppendUint(b, rec.ReqID, 10)
	b = append(b, `","from":"`...)
	if rec.From.IsValid() {
		b = rec.From.Unmap().AppendTo(b)
	}
	b = append(b, `","method":`...)
	if int(rec.Method) < len(methodNames) && methodNames[rec.Method] != "" {
		b = appendJSONString(b, methodNames[rec.Method])
	} else {
		b = appendJSONBytes(b, rec.MethodToken())
	}
	b = append(b, `,"host":`...)
	b = appendJSONBytes(b, rec.Host())
	b = append(b, `,"uri":`...)
	b = appendJSONBytes(b, rec.URI())
	b = append(b, `,"protocol":`...)
	b = appendProtocol(b, rec.Version)
	b = append(b, `,"status":`...)
	b = strconv.AppendUint(b, uint64(rec.Status), 10)
	if rec.GRPCStatus != 0 {
		b = append(b, `,"grpcStatus":`...)
		b = appendGRPCStatus(b, rec.GRPCStatus)
	}
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, rec.DataOut, 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendFloat(b, float64(rec.Duration)/1e6, 'f', 3, 64)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, rec.RouteID)
	b = append(b, `,"apikey":`...)
	if rec.Identity != nil {
		b = appendJSONString(b, rec.Identity.ClientID)
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}
