package dns

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// resolvConf is what the Cache uses of /etc/resolv.conf (resolv.conf(5)).
type resolvConf struct {
	servers []string // "ip:53"
	search  []string
	ndots   int
}

// readResolvConf parses path; a missing file gives no server and ndots 1.
func readResolvConf(path string) resolvConf {
	rc := resolvConf{ndots: 1}
	f, err := os.Open(path)
	if err != nil {
		return rc
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") || strings.HasPrefix(fields[0], ";") {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(fields[1]); err == nil {
				rc.servers = append(rc.servers, net.JoinHostPort(a.String(), "53"))
			}
		case "search", "domain":
			rc.search = nil
			for _, d := range fields[1:] {
				rc.search = append(rc.search, strings.TrimSuffix(strings.ToLower(d), "."))
			}
		case "options":
			for _, o := range fields[1:] {
				if v, ok := strings.CutPrefix(o, "ndots:"); ok {
					if n, err := strconv.Atoi(v); err == nil && n >= 0 {
						rc.ndots = min(n, 15)
					}
				}
			}
		}
	}
	return rc
}

// candidates lists the absolute names to ask for name, in order (resolv.conf(5): a name with at
// least ndots dots is tried as is first, otherwise after the search list).
func candidates(name string, search []string, ndots int) []string {
	if strings.HasSuffix(name, ".") {
		return []string{name}
	}
	var out []string
	for _, d := range search {
		if d != "" {
			out = append(out, name+"."+d+".")
		}
	}
	if strings.Count(name, ".") >= ndots {
		return append([]string{name + "."}, out...)
	}
	return append(out, name+".")
}

// readHosts parses a hosts file (hosts(5)) into name → addresses, names in lower case.
func readHosts(path string) map[string][]netip.Addr {
	out := map[string][]netip.Addr{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		a, err := netip.ParseAddr(fields[0])
		if err != nil {
			continue
		}
		for _, n := range fields[1:] {
			n = strings.TrimSuffix(strings.ToLower(n), ".")
			out[n] = append(out[n], a.Unmap())
		}
	}
	return out
}
