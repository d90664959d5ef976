// Package discovery lets cash registers on the shop's network find the
// agent by itself: it advertises the agent as the DNS-SD service
// _tezgah._tcp over multicast DNS (github.com/grandcat/zeroconf), and
// browses for agents for `tezgah discover`.
//
// zeroconf takes a registration's addresses once, when it registers, so
// Advertise watches the machine's interfaces (a poll on a ticker: there
// is no portable change notification) and registers anew when they
// change — a laptop moved to another Wi-Fi, a DHCP lease renewed with a
// new address. Each re-registration and the final shutdown send goodbye
// packets (TTL 0), so registers drop a stale address at once rather than
// after the records' TTL.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/grandcat/zeroconf"
)

// Service is the DNS-SD service type, in the local domain.
const (
	Service = "_tezgah._tcp"
	Domain  = "local."
)

// DefaultInterval is how often Advertise looks for interface changes.
const DefaultInterval = 5 * time.Second

// Advertisement is what Advertise announces.
type Advertisement struct {
	Instance string   // instance name, e.g. the agent id
	Port     int      // the WebSocket port
	Text     []string // TXT records, "key=value"
	// Addr is the address the agent listens on; an unspecified address
	// (0.0.0.0, ::) advertises on every multicast interface, a specific
	// one only on the interface that holds it.
	Addr     net.IP
	Interval time.Duration // default DefaultInterval
	Log      *slog.Logger
}

// Advertise announces ad until ctx is done, then says goodbye. It
// returns an error only for an advertisement that can never work; an
// interface that is down or missing now is waited for.
func Advertise(ctx context.Context, ad Advertisement) error {
	if ad.Instance == "" || ad.Port <= 0 || ad.Port > 65535 {
		return fmt.Errorf("discovery: instance %q port %d: need a name and a port", ad.Instance, ad.Port)
	}
	for _, t := range ad.Text {
		if len(t) > 255 {
			return fmt.Errorf("discovery: TXT record %.20q… is over 255 bytes", t)
		}
	}
	if ad.Interval <= 0 {
		ad.Interval = DefaultInterval
	}
	log := ad.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var srv *zeroconf.Server
	defer func() {
		if srv != nil {
			srv.Shutdown() // sends the goodbye
			log.Info("mDNS advertisement withdrawn")
		}
	}()
	tick := time.NewTicker(ad.Interval)
	defer tick.Stop()
	seen := "" // the interfaces the current registration was made on
	for {
		ifaces, key, err := interfaces(ad.Addr)
		switch {
		case err != nil:
			log.Warn("mDNS: cannot list network interfaces", "err", err)
		case key != seen:
			if srv != nil {
				srv.Shutdown()
				srv = nil
			}
			seen = key
			if len(ifaces) == 0 {
				log.Warn("mDNS: no multicast interface with an address; advertising once one appears")
				break
			}
			srv, err = zeroconf.Register(ad.Instance, Service, Domain, ad.Port, ad.Text, ifaces)
			if err != nil {
				log.Warn("mDNS: advertising failed; trying again when the interfaces change", "err", err)
				srv = nil
				break
			}
			log.Info("mDNS: advertising", "service", Service, "instance", ad.Instance, "port", ad.Port, "interfaces", names(ifaces))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// interfaces returns the multicast-capable interfaces that are up and
// have an address (the one holding only if given), and a key that
// changes whenever any of that does.
func interfaces(only net.IP) ([]net.Interface, string, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, "", err
	}
	var out []net.Interface
	var key strings.Builder
	for _, ifi := range all {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagMulticast == 0 || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		var ips []string
		holds := false
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
				ips = append(ips, n.IP.String())
				holds = holds || n.IP.Equal(only)
			}
		}
		if len(ips) == 0 || (only != nil && !only.IsUnspecified() && !holds) {
			continue
		}
		sort.Strings(ips)
		fmt.Fprintf(&key, "%d %s %s;", ifi.Index, ifi.Name, strings.Join(ips, ","))
		out = append(out, ifi)
	}
	return out, key.String(), nil
}

func names(ifaces []net.Interface) string {
	var n []string
	for _, i := range ifaces {
		n = append(n, i.Name)
	}
	return strings.Join(n, ",")
}

// Entry is one agent found on the network.
type Entry struct {
	Instance string            `json:"instance"`
	Host     string            `json:"host"`
	Addrs    []string          `json:"addresses"`
	Port     int               `json:"port"`
	Text     map[string]string `json:"txt"`
}

// URL is the WebSocket URL of the entry's first address (IPv4 first):
// wss when its TXT says tls=on, path from TXT path (default /v1/ws).
func (e Entry) URL() string {
	if len(e.Addrs) == 0 {
		return ""
	}
	scheme, path := "ws", e.Text["path"]
	if e.Text["tls"] == "on" {
		scheme = "wss"
	}
	if path == "" {
		path = "/v1/ws"
	}
	return scheme + "://" + net.JoinHostPort(e.Addrs[0], fmt.Sprint(e.Port)) + path
}

// Browse looks for agents until ctx is done or found returns true, and
// calls found once for each. It returns ctx's error only if it could not
// browse at all.
func Browse(ctx context.Context, found func(Entry) bool) error {
	// zeroconf v1.0.0 fails outright when it cannot join one of the two
	// IP versions' groups (a machine with IPv6 off), so fall back to one.
	var r *zeroconf.Resolver
	var errs []error
	for _, opt := range []zeroconf.ClientOption{nil, zeroconf.SelectIPTraffic(zeroconf.IPv4), zeroconf.SelectIPTraffic(zeroconf.IPv6)} {
		var err error
		if r, err = zeroconf.NewResolver(opt); err == nil {
			break
		}
		errs = append(errs, err)
	}
	if r == nil {
		return fmt.Errorf("discovery: cannot listen for mDNS: %w", errors.Join(errs...))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	entries := make(chan *zeroconf.ServiceEntry)
	if err := r.Browse(ctx, Service, Domain, entries); err != nil {
		return fmt.Errorf("discovery: browse: %w", err)
	}
	stopped := false
	for se := range entries { // closed by zeroconf once ctx is done
		if stopped {
			continue // drain, or zeroconf's loop blocks on the send
		}
		if found(entryOf(se)) {
			stopped = true
			cancel()
		}
	}
	return nil
}

func entryOf(se *zeroconf.ServiceEntry) Entry {
	e := Entry{Instance: unescape(se.Instance), Host: se.HostName, Port: se.Port}
	for _, ip := range se.AddrIPv4 {
		e.Addrs = append(e.Addrs, ip.String())
	}
	for _, ip := range se.AddrIPv6 {
		e.Addrs = append(e.Addrs, ip.String())
	}
	e.Text = parseText(se.Text)
	return e
}

// parseText reads DNS-SD TXT strings (RFC 6763 section 6): keys are
// case-insensitive, the first of a repeated key counts, a string without
// "=" is a boolean attribute (empty value), one starting with "=" is
// ignored.
func parseText(txt []string) map[string]string {
	m := map[string]string{}
	for _, t := range txt {
		k, v, _ := strings.Cut(t, "=")
		k = strings.ToLower(k)
		if _, dup := m[k]; k == "" || dup {
			continue
		}
		m[k] = v
	}
	return m
}

// unescape undoes the DNS presentation escapes zeroconf leaves in an
// instance name: "\ " for a space and "\DDD" (decimal) for other bytes.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			if i+3 < len(s) && isDigits(s[i+1:i+4]) {
				if n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0'); n < 256 {
					b.WriteByte(byte(n))
					i += 3
					continue
				}
			}
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
