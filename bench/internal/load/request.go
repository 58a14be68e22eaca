package load

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Header is one extra request header.
type Header struct{ Name, Value string }

// BuildRequest serializes one HTTP/1.1 request for rawURL (http only) and
// returns it with the address to dial. A non-empty body gets a
// Content-Length. Headers may override Host and User-Agent.
func BuildRequest(method, rawURL string, headers []Header, body []byte) (req []byte, addr string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("cannot parse URL %q: %w", rawURL, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, "", fmt.Errorf("cannot load-test %q: only http://host[:port]/path URLs: %w", rawURL, ErrConfig)
	}
	if method == "" || strings.ContainsAny(method, " \r\n") {
		return nil, "", fmt.Errorf("cannot use method %q: %w", method, ErrConfig)
	}
	addr = u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	target := u.RequestURI()
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\n")
	has := func(name string) bool {
		for _, h := range headers {
			if strings.EqualFold(h.Name, name) {
				return true
			}
		}
		return false
	}
	if !has("Host") {
		b.WriteString("Host: " + u.Host + "\r\n")
	}
	if !has("User-Agent") {
		b.WriteString("User-Agent: torii-loadgen\r\n")
	}
	for _, h := range headers {
		if h.Name == "" || strings.ContainsAny(h.Name, " :\r\n") || strings.ContainsAny(h.Value, "\r\n") {
			return nil, "", fmt.Errorf("cannot send header %q: %w", h.Name, ErrConfig)
		}
		b.WriteString(h.Name + ": " + h.Value + "\r\n")
	}
	if len(body) > 0 || method == "POST" || method == "PUT" {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return []byte(b.String()), addr, nil
}

// ParseHeader parses "Name: value" as given on a command line.
func ParseHeader(s string) (Header, error) {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return Header{}, fmt.Errorf("cannot parse header %q, want \"Name: value\": %w", s, ErrConfig)
	}
	return Header{Name: name, Value: strings.TrimSpace(value)}, nil
}
