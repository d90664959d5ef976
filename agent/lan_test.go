package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/discovery"
	"github.com/tezgah/tezgah/agent/pairing"
	"github.com/tezgah/tezgah/agent/tlscert"
	"github.com/tezgah/tezgah/internal/netnstest"
)

// TestTLSPinnedWithToken runs the agent with lan.tls and tokens required
// on loopback: a register that pins the printed fingerprint and presents
// its token gets a session over wss://; the fingerprint survives a
// restart; no token or another pin is refused.
func TestTLSPinnedWithToken(t *testing.T) {
	dir := t.TempDir()
	tok, err := pairing.Open(dir).Pair("kasa-3")
	if err != nil {
		t.Fatal(err)
	}
	url, fp, stop := runTLSAgent(t, dir)
	if !strings.HasPrefix(url, "wss://127.0.0.1:") {
		t.Fatalf("URL %q, want wss://", url)
	}
	pinned := func(pin string) *websocket.Dialer {
		return &websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, // self-signed: the pin is the check
			VerifyConnection: func(cs tls.ConnectionState) error {
				if tlscert.Fingerprint(cs.PeerCertificates[0].Raw) != pin {
					return errors.New("certificate does not match the pinned fingerprint")
				}
				return nil
			},
		}}
	}
	auth := http.Header{"Authorization": {"Bearer " + tok}}
	c, _, err := pinned(fp).Dial(url, auth)
	if err != nil {
		t.Fatalf("pinned wss with token: %v", err)
	}
	cl := &client{t: t, c: c}
	cl.send(`{"type":"status"}`)
	if ev := cl.next(); ev.Type != "status" {
		t.Fatalf("status over wss: %+v", ev)
	}
	c.Close()
	if _, resp, err := pinned(fp).Dial(url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token with require_token_on_loopback: %v %v", resp, err)
	}
	if _, _, err := pinned(strings.Repeat("0", 64)).Dial(url, auth); err == nil {
		t.Fatal("a wrong pin connected")
	}
	stop()

	_, fp2, _ := runTLSAgent(t, dir)
	if fp2 != fp {
		t.Fatalf("fingerprint changed across a restart: %s then %s", fp, fp2)
	}
}

func runTLSAgent(t *testing.T, dir string) (url, fp string, stop func()) {
	t.Helper()
	cfg := config.Demo()
	cfg.Agent.DataDir = dir
	cfg.Agent.Listen = "127.0.0.1:0"
	cfg.LAN.TLS = true
	cfg.LAN.RequireTokenOnLoopback = true
	fps := make(chan string, 1)
	h := runAgent(t, cfg, Options{Version: "test", Log: testLog(t), Demo: true, TLSReady: func(f string) { fps <- f }})
	select {
	case fp = <-fps:
	default:
		t.Fatal("TLSReady was not called before Ready")
	}
	return h.url, fp, h.stop
}

// The agent advertises exactly when it listens beyond loopback and
// lan.advertise is not false. It runs inside a network namespace of its
// own, so nothing reaches the machine's real network.
func TestAdvertisingFollowsListenAndConfig(t *testing.T) {
	if !netnstest.InSingle(t) {
		return
	}
	off := false
	tests := []struct {
		name      string
		listen    string
		advertise *bool
		want      bool
	}{
		{"loopback only", "127.0.0.1:0", nil, false},
		{"turned off", "0.0.0.0:0", &off, false},
		{"on the LAN", "0.0.0.0:0", nil, true},
		{"on one address", netnstest.AddrA + ":0", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Demo()
			cfg.Agent.DataDir = t.TempDir()
			cfg.Agent.Listen = tc.listen
			cfg.LAN.Advertise = tc.advertise
			u := runAgent(t, cfg, Options{Version: "test", Log: testLog(t), Demo: true}).url
			port := u[strings.LastIndex(u, ":")+1 : strings.LastIndex(u, "/v1/ws")]

			// Absence is checked over a window long enough for the
			// announcements the positive cases get within it.
			bctx, bcancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer bcancel()
			var found *discovery.Entry
			if err := discovery.Browse(bctx, func(e discovery.Entry) bool {
				if fmt.Sprint(e.Port) == port {
					found = &e
					return true
				}
				return false
			}); err != nil {
				t.Fatal(err)
			}
			if (found != nil) != tc.want {
				t.Fatalf("listening on %s (advertise %v): found %+v, want found=%v", u, tc.advertise, found, tc.want)
			}
			if found != nil && (found.Text["id"] != cfg.Agent.ID || found.Text["version"] != "test" || found.Instance != cfg.LAN.Instance) {
				t.Fatalf("advertised %+v", found)
			}
			if tc.listen == netnstest.AddrA+":0" && (len(found.Addrs) == 0 || found.Addrs[0] != netnstest.AddrA) {
				t.Fatalf("listening on %s but advertised %v", netnstest.AddrA, found.Addrs)
			}
		})
	}
}
