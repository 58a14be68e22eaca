package dns

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// maxUDPAnswer is the largest UDP answer read (RFC 1035 §4.2.1 caps plain DNS at 512 bytes; the
// extra room takes servers that send more without EDNS). A truncated answer is asked again
// over TCP.
const maxUDPAnswer = 1232

// maxTCPAnswer bounds an answer over TCP (its length prefix allows 64 KiB).
const maxTCPAnswer = 65535

// errNoName means the name does not exist (NXDOMAIN) or has no address of the asked type.
var errNoName = errors.New("dns: no such name or no address")

// answer is the outcome of one question: addresses with the smallest TTL of the records used.
type answer struct {
	addrs []netip.Addr
	ttl   uint32
}

// exchange asks server one question (name absolute, qtype A or AAAA) and returns its answer.
// errNoName when the server says the name has no such record; any other error means the server
// did not give a usable answer.
func exchange(ctx context.Context, server, name string, qtype dnsmessage.Type, timeout time.Duration) (answer, error) {
	qname, err := dnsmessage.NewName(name)
	if err != nil {
		return answer{}, fmt.Errorf("dns: bad name %q: %w", name, err)
	}
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	q := dnsmessage.Question{Name: qname, Type: qtype, Class: dnsmessage.ClassINET}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return answer{}, err
	}
	if err := b.Question(q); err != nil {
		return answer{}, err
	}
	msg, err := b.Finish()
	if err != nil {
		return answer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := roundTrip(ctx, "udp", server, msg)
	if err != nil {
		return answer{}, err
	}
	a, truncated, err := parseAnswer(resp, id, q)
	if truncated {
		if resp, err = roundTrip(ctx, "tcp", server, msg); err != nil {
			return answer{}, err
		}
		a, _, err = parseAnswer(resp, id, q)
	}
	return a, err
}

// roundTrip sends msg to server over network and reads one answer.
func roundTrip(ctx context.Context, network, server string, msg []byte) ([]byte, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, fmt.Errorf("dns: cannot reach %s: %w", server, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if network == "udp" {
		if _, err := conn.Write(msg); err != nil {
			return nil, fmt.Errorf("dns: cannot send to %s: %w", server, err)
		}
		buf := make([]byte, maxUDPAnswer)
		n, err := conn.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("dns: no answer from %s: %w", server, err)
		}
		return buf[:n], nil
	}
	framed := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))
	if _, err := conn.Write(append(framed, msg...)); err != nil {
		return nil, fmt.Errorf("dns: cannot send to %s: %w", server, err)
	}
	var l [2]byte
	if _, err := io.ReadFull(conn, l[:]); err != nil {
		return nil, fmt.Errorf("dns: no answer from %s: %w", server, err)
	}
	buf := make([]byte, min(int(binary.BigEndian.Uint16(l[:])), maxTCPAnswer))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return nil, fmt.Errorf("dns: truncated answer from %s: %w", server, err)
	}
	return buf, nil
}

// parseAnswer checks that resp answers q (same id and question) and collects its addresses of
// q's type with the smallest TTL among the answer records (CNAMEs included).
func parseAnswer(resp []byte, id uint16, q dnsmessage.Question) (answer, bool, error) {
	var p dnsmessage.Parser
	h, err := p.Start(resp)
	if err != nil {
		return answer{}, false, fmt.Errorf("dns: bad answer: %w", err)
	}
	if h.ID != id || !h.Response {
		return answer{}, false, errors.New("dns: answer does not match the question")
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 || qs[0].Type != q.Type || !strings.EqualFold(qs[0].Name.String(), q.Name.String()) {
		return answer{}, false, errors.New("dns: answer does not match the question")
	}
	if h.Truncated {
		return answer{}, true, nil
	}
	switch h.RCode {
	case dnsmessage.RCodeSuccess:
	case dnsmessage.RCodeNameError:
		return answer{}, false, errNoName
	default:
		return answer{}, false, fmt.Errorf("dns: server answered %v", h.RCode)
	}
	a := answer{ttl: ^uint32(0)}
	for {
		rh, err := p.AnswerHeader()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil {
			return answer{}, false, fmt.Errorf("dns: bad answer: %w", err)
		}
		switch {
		case rh.Type == dnsmessage.TypeA && q.Type == dnsmessage.TypeA:
			r, err := p.AResource()
			if err != nil {
				return answer{}, false, fmt.Errorf("dns: bad A record: %w", err)
			}
			a.addrs = append(a.addrs, netip.AddrFrom4(r.A))
		case rh.Type == dnsmessage.TypeAAAA && q.Type == dnsmessage.TypeAAAA:
			r, err := p.AAAAResource()
			if err != nil {
				return answer{}, false, fmt.Errorf("dns: bad AAAA record: %w", err)
			}
			a.addrs = append(a.addrs, netip.AddrFrom16(r.AAAA).Unmap())
		default:
			if err := p.SkipAnswer(); err != nil {
				return answer{}, false, fmt.Errorf("dns: bad answer: %w", err)
			}
			if rh.Type != dnsmessage.TypeCNAME {
				continue
			}
		}
		a.ttl = min(a.ttl, rh.TTL)
	}
	if len(a.addrs) == 0 {
		return answer{}, false, errNoName
	}
	return a, false, nil
}
