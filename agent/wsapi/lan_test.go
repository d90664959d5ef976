package wsapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/agent/pairing"
	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/internal/testwait"
)

// These tests run over real loopback connections. Loopback clients are
// trusted by default, so the token tests set RequireTokenOnLoopback,
// which sends them down the same path as a LAN client; 127.0.0.2 stands
// in for a second machine where a test needs two addresses.

func hostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Skip("no host name:", err)
	}
	return h
}

func wsURL(ts *httptest.Server) string {
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1/ws"
}

// dialer connects from the loopback address from (e.g. "127.0.0.2").
func dialer(from string) *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout: 5 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
			return d.DialContext(ctx, network, addr)
		},
	}
}

// try dials and returns the connection (nil if refused), the HTTP status
// and the refusal's error code.
func try(t *testing.T, d *websocket.Dialer, url string, h http.Header) (*websocket.Conn, int, string) {
	t.Helper()
	c, resp, err := d.Dial(url, h)
	if resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if c != nil {
		t.Cleanup(func() { c.Close() })
		return c, resp.StatusCode, ""
	}
	var ev protocol.Event
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &ev); err != nil || ev.Error == nil {
		t.Fatalf("refusal body %q is not an error event: %v", b, err)
	}
	return nil, resp.StatusCode, ev.Error.Code
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// closeOf reads until the connection ends and returns its close error.
func closeOf(t *testing.T, c *websocket.Conn) *websocket.CloseError {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended with %v, want a close frame", err)
		}
		return ce
	}
}

func TestPairingTokens(t *testing.T) {
	store := pairing.Open(t.TempDir())
	tok, err := store.Pair("kasa-3")
	if err != nil {
		t.Fatal(err)
	}
	_, ts, _ := newServer(t, Options{Tokens: store, RequireTokenOnLoopback: true})
	url, d := wsURL(ts), dialer("127.0.0.1")
	tests := []struct {
		name   string
		url    string
		h      http.Header
		status int
		code   string
	}{
		{"no token", url, nil, http.StatusUnauthorized, CodeTokenRequired},
		{"wrong token", url, bearer("tzg_wrong"), http.StatusUnauthorized, CodeTokenInvalid},
		{"bearer header", url, bearer(tok), http.StatusSwitchingProtocols, ""},
		{"query parameter", url + "?token=" + tok, nil, http.StatusSwitchingProtocols, ""},
		{"not bearer", url, http.Header{"Authorization": {"Basic " + tok}}, http.StatusUnauthorized, CodeTokenRequired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, status, code := try(t, d, tc.url, tc.h)
			if status != tc.status || code != tc.code {
				t.Fatalf("got %d %q, want %d %q", status, code, tc.status, tc.code)
			}
		})
	}

	// The running server sees pairing changes without a restart.
	c, _, _ := try(t, d, url, bearer(tok))
	if err := store.Revoke("kasa-3"); err != nil {
		t.Fatal(err)
	}
	if _, status, code := try(t, d, url, bearer(tok)); code != CodeTokenInvalid {
		t.Fatalf("revoked token: %d %q, want %s", status, code, CodeTokenInvalid)
	}
	// An open connection outlives the revocation: revoking is for the
	// next connection, it does not cut a sale in progress.
	c.WriteJSON(map[string]string{"type": "ping"})
	if ev := read(t, c); ev.Type != "pong" {
		t.Fatalf("open connection after revoke: %+v", ev)
	}
	tok5, err := store.Pair("kasa-5")
	if err != nil {
		t.Fatal(err)
	}
	if _, status, _ := try(t, d, url, bearer(tok5)); status != http.StatusSwitchingProtocols {
		t.Fatalf("token paired while running: %d", status)
	}
}

func TestLoopbackNeedsNoTokenByDefault(t *testing.T) {
	_, ts, _ := newServer(t, Options{Tokens: pairing.Open(t.TempDir())})
	if _, status, code := try(t, dialer("127.0.0.1"), wsURL(ts), nil); status != http.StatusSwitchingProtocols {
		t.Fatalf("loopback client: %d %q", status, code)
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestBadTokensSlowDownPerAddress(t *testing.T) {
	store := pairing.Open(t.TempDir())
	tok, _ := store.Pair("kasa-1")
	clk := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	_, ts, _ := newServer(t, Options{Tokens: store, RequireTokenOnLoopback: true, Now: clk.Now})
	url := wsURL(ts)
	bad, good := dialer("127.0.0.1"), dialer("127.0.0.2")

	for i := range badTokenGrace + 1 {
		if _, status, code := try(t, bad, url, bearer("tzg_guess")); code != CodeTokenInvalid {
			t.Fatalf("wrong token %d: %d %q, want %s", i+1, status, code, CodeTokenInvalid)
		}
	}
	// Shut out now, even with the right token: the token is not looked at.
	c, resp, _ := bad.Dial(url, bearer(tok))
	if c != nil {
		t.Fatal("right token accepted from an address in its slow-down")
	}
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("in slow-down: %d Retry-After %q, want 429 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Another address is not punished for its neighbour.
	if _, status, _ := try(t, good, url, bearer(tok)); status != http.StatusSwitchingProtocols {
		t.Fatalf("other address: %d", status)
	}
	// Each further wrong token doubles the wait.
	clk.Add(time.Second)
	if _, _, code := try(t, bad, url, bearer("tzg_guess")); code != CodeTokenInvalid {
		t.Fatalf("after the wait: %q", code)
	}
	clk.Add(time.Second)
	if _, _, code := try(t, bad, url, bearer(tok)); code != CodeTooManyBadTokens {
		t.Fatalf("1s into a 2s wait: %q, want %s", code, CodeTooManyBadTokens)
	}
	clk.Add(time.Second)
	if _, status, _ := try(t, bad, url, bearer(tok)); status != http.StatusSwitchingProtocols {
		t.Fatalf("right token after the wait: %d", status)
	}
	// Success forgives: the next typo is answered at once again.
	if _, _, code := try(t, bad, url, bearer("tzg_typo")); code != CodeTokenInvalid {
		t.Fatalf("typo after success: %q", code)
	}
}

func TestConnectionLimitPerClient(t *testing.T) {
	s, ts, _ := newServer(t, Options{MaxConnsPerClient: 2})
	url, one, two := wsURL(ts), dialer("127.0.0.1"), dialer("127.0.0.2")
	a, _, _ := try(t, one, url, nil)
	try(t, one, url, nil)
	third, status, _ := try(t, one, url, nil)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("third connection: HTTP %d, want an upgrade closed with a reason", status)
	}
	ce := closeOf(t, third)
	if ce.Code != websocket.ClosePolicyViolation || !strings.HasPrefix(ce.Text, CodeTooManyConnections+": ") {
		t.Fatalf("third connection closed with %d %q", ce.Code, ce.Text)
	}
	if _, status, _ := try(t, two, url, nil); status != http.StatusSwitchingProtocols {
		t.Fatal("another address is limited by its neighbour's connections")
	}
	// A closed connection frees its slot. The server counts a connection
	// just after its upgrade answer, so first wait until all three are
	// counted: else the count could read 2 before a is gone.
	waitFor(t, "the three open connections to be counted", func() bool { return s.Conns() == 3 })
	a.Close()
	waitFor(t, "the closed connection to be released", func() bool { return s.Conns() == 2 })
	c, _, _ := try(t, one, url, nil)
	c.WriteJSON(map[string]string{"type": "ping"})
	if ev := read(t, c); ev.Type != "pong" {
		t.Fatalf("after a slot freed: %+v", ev)
	}
}

func TestFrameOverHardLimitCloses(t *testing.T) {
	_, ts, _ := newServer(t, Options{MaxFrameBytes: 1024})
	c, _, _ := try(t, dialer("127.0.0.1"), wsURL(ts), nil)
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","pad":"`+strings.Repeat("x", 2000)+`"}`))
	if ev := read(t, c); ev.Error == nil || ev.Error.Code != protocol.CodeFrameTooLarge {
		t.Fatalf("over the limit: %+v, want an error event", ev)
	}
	c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 16*1024+1)))
	ce := closeOf(t, c)
	if ce.Code != websocket.CloseMessageTooBig || !strings.HasPrefix(ce.Text, CodeFrameTooLarge+": ") {
		t.Fatalf("over the hard limit: closed with %d %q", ce.Code, ce.Text)
	}
}

func TestRateLimitPerClientAndFloodCloses(t *testing.T) {
	// A rate this low refills nothing during the test.
	_, ts, _ := newServer(t, Options{Rate: 0.001, Burst: 2})
	url, d := wsURL(ts), dialer("127.0.0.1")
	a, _, _ := try(t, d, url, nil)
	b, _, _ := try(t, d, url, nil)
	for range 2 {
		a.WriteJSON(map[string]string{"type": "ping"})
		if ev := read(t, a); ev.Type != "pong" {
			t.Fatalf("within the burst: %+v", ev)
		}
	}
	// The budget is the client's, not the connection's.
	b.WriteJSON(map[string]string{"type": "ping"})
	if ev := read(t, b); ev.Error == nil || ev.Error.Code != protocol.CodeRateLimited {
		t.Fatalf("second connection of the same client: %+v, want rate_limited", ev)
	}
	a.WriteJSON(map[string]string{"type": "ping"})
	if ev := read(t, a); ev.Error == nil || ev.Error.Code != protocol.CodeRateLimited {
		t.Fatalf("over the burst: %+v, want rate_limited", ev)
	}
	for range 2 {
		a.WriteJSON(map[string]string{"type": "ping"})
	}
	ce := closeOf(t, a)
	if ce.Code != websocket.ClosePolicyViolation || !strings.HasPrefix(ce.Text, CodeRateLimited+": ") {
		t.Fatalf("flood: closed with %d %q", ce.Code, ce.Text)
	}
}

func TestSilentConnectionClosed(t *testing.T) {
	s, ts, _ := newServer(t, Options{PingInterval: 100 * time.Millisecond})
	url, d := wsURL(ts), dialer("127.0.0.1")
	silent, _, _ := try(t, d, url, nil)
	silent.SetPingHandler(func(string) error { return nil }) // a hung register: no pongs
	alive, _, _ := try(t, d, url, nil)
	pings := make(chan struct{}, 100)
	alive.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return alive.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	go func() {
		for {
			if _, _, err := alive.ReadMessage(); err != nil {
				return
			}
		}
	}()
	// The silent one is closed, with its reason, while the one that
	// answers pings stays through many more intervals.
	ce := closeOf(t, silent)
	if !strings.HasPrefix(ce.Text, CodeIdleTimeout+": ") {
		t.Fatalf("silent connection closed with %d %q", ce.Code, ce.Text)
	}
	for range 4 { // 400 ms: well past the 250 ms without a pong that ends the silent one
		select {
		case <-pings:
		case <-time.After(5 * time.Second):
			t.Fatal("the live connection got no pings")
		}
	}
	waitFor(t, "the silent connection to be dropped", func() bool { return s.Conns() == 1 })
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, what, 5*time.Second, cond, nil)
}

// The handshake's headers and query come from anyone on the network: no
// combination may panic, or admit a LAN client without the right token.
func FuzzAdmit(f *testing.F) {
	f.Add("192.0.2.7:5000", "10.0.0.1:8417", "", "Bearer tzg_right", "token=x")
	f.Add("[::1]:1", "[::1]:8417", "http://evil.example", "", "")
	f.Add("192.0.2.7:5000", "localhost", "", "Bearer ", "token=tzg_right&token=y")
	f.Fuzz(func(t *testing.T, remote, host, origin, auth, query string) {
		s := New(nil, Options{PairingToken: "tzg_right", Now: func() time.Time { return time.Unix(0, 0) }})
		r := &http.Request{Method: "GET", Host: host, RemoteAddr: remote, Header: http.Header{},
			URL: &url.URL{Path: "/v1/ws", RawQuery: query}}
		r = r.WithContext(context.Background())
		r.Header.Set("Origin", origin)
		r.Header.Set("Authorization", auth)
		_, no := s.admit(r)
		if no != nil {
			if no.code == "" || no.status < 400 {
				t.Fatalf("refusal without a code or an error status: %+v", no)
			}
			return
		}
		ip := remoteIP(r)
		if ip == nil {
			t.Fatalf("admitted %q: not an address", remote)
		}
		if !ip.IsLoopback() && !strings.Contains(auth, "tzg_right") && r.URL.Query().Get("token") != "tzg_right" {
			t.Fatalf("admitted LAN client %s with auth %q query %q", remote, auth, query)
		}
	})
}
