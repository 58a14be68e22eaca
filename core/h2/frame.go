// Package h2 holds the HTTP/2 wire format the engine's own HTTP/2 server
// (core/h2conn.go) speaks: frame headers and frame writers (RFC 9113 §4, §6),
// error codes and settings, and HPACK (RFC 7541) without allocations on the
// hot path. It keeps no connection state beyond the HPACK decoder's dynamic
// table; the connection state machine lives in package core, on the event
// loops.
package h2

import "encoding/binary"

// Preface is the client connection preface (RFC 9113 §3.4).
const Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// FrameHeaderLen is the length of a frame header.
const FrameHeaderLen = 9

// FrameType is a frame's type (RFC 9113 §6).
type FrameType uint8

// The frame types.
const (
	FrameData         FrameType = 0x0
	FrameHeaders      FrameType = 0x1
	FramePriority     FrameType = 0x2
	FrameRSTStream    FrameType = 0x3
	FrameSettings     FrameType = 0x4
	FramePushPromise  FrameType = 0x5
	FramePing         FrameType = 0x6
	FrameGoAway       FrameType = 0x7
	FrameWindowUpdate FrameType = 0x8
	FrameContinuation FrameType = 0x9
)

// Frame flags.
const (
	FlagEndStream  = 0x1
	FlagAck        = 0x1
	FlagEndHeaders = 0x4
	FlagPadded     = 0x8
	FlagPriority   = 0x20
)

// ErrCode is an error code of RST_STREAM and GOAWAY (RFC 9113 §7).
type ErrCode uint32

// The error codes.
const (
	ErrCodeNo                 ErrCode = 0x0
	ErrCodeProtocol           ErrCode = 0x1
	ErrCodeInternal           ErrCode = 0x2
	ErrCodeFlowControl        ErrCode = 0x3
	ErrCodeSettingsTimeout    ErrCode = 0x4
	ErrCodeStreamClosed       ErrCode = 0x5
	ErrCodeFrameSize          ErrCode = 0x6
	ErrCodeRefusedStream      ErrCode = 0x7
	ErrCodeCancel             ErrCode = 0x8
	ErrCodeCompression        ErrCode = 0x9
	ErrCodeConnect            ErrCode = 0xa
	ErrCodeEnhanceYourCalm    ErrCode = 0xb
	ErrCodeInadequateSecurity ErrCode = 0xc
	ErrCodeHTTP11Required     ErrCode = 0xd
)

var errCodeNames = [...]string{"no_error", "protocol_error", "internal_error", "flow_control_error",
	"settings_timeout", "stream_closed", "frame_size_error", "refused_stream", "cancel",
	"compression_error", "connect_error", "enhance_your_calm", "inadequate_security", "http_1_1_required"}

// String is the code's name in lower case ("protocol_error"), a bounded set
// for metric labels.
func (e ErrCode) String() string {
	if int(e) < len(errCodeNames) {
		return errCodeNames[e]
	}
	return "unknown"
}

// Setting identifiers (RFC 9113 §6.5.2).
const (
	SettingHeaderTableSize      = 0x1
	SettingEnablePush           = 0x2
	SettingMaxConcurrentStreams = 0x3
	SettingInitialWindowSize    = 0x4
	SettingMaxFrameSize         = 0x5
	SettingMaxHeaderListSize    = 0x6
	SettingEnableConnectProto   = 0x8
)

// Protocol bounds.
const (
	DefaultWindow   = 65535
	MaxWindow       = 1<<31 - 1
	MinMaxFrameSize = 16384
	MaxMaxFrameSize = 1<<24 - 1
)

// FrameHeader is a decoded frame header.
type FrameHeader struct {
	Length   uint32
	Type     FrameType
	Flags    uint8
	StreamID uint32
}

// ParseFrameHeader decodes the 9-byte frame header at the start of b
// (len(b) >= FrameHeaderLen).
func ParseFrameHeader(b []byte) FrameHeader {
	return FrameHeader{
		Length:   uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		Type:     FrameType(b[3]),
		Flags:    b[4],
		StreamID: binary.BigEndian.Uint32(b[5:9]) & MaxWindow,
	}
}

// AppendFrameHeader appends a frame header.
func AppendFrameHeader(dst []byte, length int, t FrameType, flags uint8, stream uint32) []byte {
	return append(dst, byte(length>>16), byte(length>>8), byte(length), byte(t), flags,
		byte(stream>>24), byte(stream>>16), byte(stream>>8), byte(stream))
}

// AppendSetting appends one setting of a SETTINGS payload.
func AppendSetting(dst []byte, id uint16, v uint32) []byte {
	return append(dst, byte(id>>8), byte(id), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// AppendRSTStream appends a RST_STREAM frame.
func AppendRSTStream(dst []byte, stream uint32, code ErrCode) []byte {
	dst = AppendFrameHeader(dst, 4, FrameRSTStream, 0, stream)
	return binary.BigEndian.AppendUint32(dst, uint32(code))
}

// AppendWindowUpdate appends a WINDOW_UPDATE frame.
func AppendWindowUpdate(dst []byte, stream uint32, incr uint32) []byte {
	dst = AppendFrameHeader(dst, 4, FrameWindowUpdate, 0, stream)
	return binary.BigEndian.AppendUint32(dst, incr)
}

// AppendGoAway appends a GOAWAY frame.
func AppendGoAway(dst []byte, lastStream uint32, code ErrCode) []byte {
	dst = AppendFrameHeader(dst, 8, FrameGoAway, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, lastStream)
	return binary.BigEndian.AppendUint32(dst, uint32(code))
}

// AppendPing appends a PING frame.
func AppendPing(dst []byte, ack bool, data []byte) []byte {
	var flags uint8
	if ack {
		flags = FlagAck
	}
	dst = AppendFrameHeader(dst, 8, FramePing, flags, 0)
	return append(dst, data[:8]...)
}
