package hostcheck

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
)

func request(host string, local net.IP) *http.Request {
	r := &http.Request{Host: host}
	ctx := context.Background()
	if local != nil {
		ctx = context.WithValue(ctx, http.LocalAddrContextKey, &net.TCPAddr{IP: local, Port: 8417})
	}
	return r.WithContext(ctx)
}

func TestAllow(t *testing.T) {
	g := New([]string{"kasa-pc.local"})
	for _, c := range []struct {
		host  string
		local net.IP
		want  bool
	}{
		{"127.0.0.1:8417", nil, true},
		{"[::1]:8417", nil, true},
		{"localhost", nil, true},
		{"LOCALHOST.:8417", nil, true},
		{"kasa-pc.local:8417", nil, true},
		{"192.0.2.10:8417", net.ParseIP("192.0.2.10"), true},  // the address the register connected to
		{"192.0.2.99:8417", net.ParseIP("192.0.2.10"), false}, // an IP that is not this machine's
		{"evil.example", nil, false},
		{"127.0.0.1.evil.example", nil, false},
		{"", nil, false},
	} {
		if got := g.Allow(request(c.host, c.local)); got != c.want {
			t.Errorf("Host %q (connected to %v): %v, want %v", c.host, c.local, got, c.want)
		}
	}
}

// FuzzAllowed: whatever the Host header holds, a name that is not this
// machine's never passes.
func FuzzAllowed(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8417", "[::1]:8417", "localhost", "LOCALHOST.:1", "kasa-pc.local", "evil.example", "evil.example:8417", "", "[", "127.0.0.1.evil.example"} {
		f.Add(s)
	}
	g := New([]string{"kasa-pc.local"})
	f.Fuzz(func(t *testing.T, host string) {
		if g.Allow(request(host, nil)) && strings.Contains(strings.ToLower(host), "evil") {
			t.Fatalf("Host %q let through", host)
		}
	})
}
