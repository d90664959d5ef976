// Package hostcheck is the agent's guard against DNS rebinding, shared by
// every HTTP door it opens (the WebSocket API and the status page): a page
// on evil.example whose name is re-pointed at this machine arrives with
// Host: evil.example, and must be refused.
package hostcheck

import (
	"net"
	"net/http"
	"os"
	"strings"
)

// Guard accepts loopback and this machine's own IP addresses, localhost,
// the machine's own name and its mDNS name (what discovery advertises),
// and the names it was given (agent.allowed_hosts).
type Guard struct {
	names []string
}

// New returns a Guard that also accepts the names in allowed.
func New(allowed []string) Guard {
	names := append([]string{"localhost"}, allowed...)
	if h, err := os.Hostname(); err == nil && h != "" {
		// What discovery advertises (SRV target <host>.local) and what
		// the shop's own DNS may call this PC: not names an attacker's
		// page can be served under.
		names = append(names, h, strings.TrimSuffix(h, ".local")+".local")
	}
	return Guard{names: names}
}

// Allow reports whether r's Host header names this machine.
func (g Guard) Allow(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback() || localIP(r, ip)
	}
	for _, h := range g.names {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// localIP reports whether ip is an address of this machine: the one the
// client connected to, or any interface's.
func localIP(r *http.Request, ip net.IP) bool {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok && a.IP.Equal(ip) {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}
