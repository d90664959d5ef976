package web

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/outbox"
)

// guarded is a Server over a real outbox with no agent behind it: every
// request below must be refused before it would reach one.
func guarded(t *testing.T) *Server {
	t.Helper()
	store, err := outbox.Open(filepath.Join(t.TempDir(), "tezgah.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return New(store, nil, Options{
		Version: "test", Terminals: []bridge.Terminal{{Name: "kasa-1", Provider: "iyzico"}},
		AllowedHosts: []string{"kasa-pc.local"}, PairingToken: "pair-me",
	})
}

func TestAccessRules(t *testing.T) {
	s := guarded(t)
	const lan, local = "192.0.2.7:50000", "127.0.0.1:50000"
	for _, tc := range []struct {
		name, method, target, remote, host string
		header                             map[string]string
		body                               string
		want                               int
		wantBody                           string
	}{
		{name: "page from this machine", method: "GET", target: "/", remote: local, want: 200, wantBody: "<!doctype html>"},
		{name: "page by configured name", method: "GET", target: "/", remote: local, host: "kasa-pc.local:8417", want: 200},
		{name: "rebound name refused", method: "GET", target: "/", remote: local, host: "evil.example:8417", want: 403, wantBody: "allowed_hosts"},
		{name: "rebound name refused for metrics too", method: "GET", target: "/metrics", remote: local, host: "evil.example", want: 403},
		{name: "IP that is not this PC's refused", method: "GET", target: "/", remote: local, host: "203.0.113.9:8417", want: 403, wantBody: "allowed_hosts"},
		{name: "page from the LAN needs the token", method: "GET", target: "/", remote: lan, want: 401, wantBody: "token"},
		{name: "page from the LAN with a wrong token", method: "GET", target: "/?token=guess", remote: lan, want: 401},
		{name: "page from the LAN with the token", method: "GET", target: "/?token=pair-me", remote: lan, want: 200},
		{name: "feed from the LAN needs the token", method: "GET", target: "/api/status", remote: lan, want: 401},
		{name: "feed from the LAN with a bearer token", method: "GET", target: "/api/status", remote: lan, header: map[string]string{"Authorization": "Bearer pair-me"}, want: 200, wantBody: `"terminals"`},
		{name: "health from the LAN", method: "GET", target: "/healthz", remote: lan, want: 200, wantBody: "ok"},
		{name: "metrics from the LAN", method: "GET", target: "/metrics", remote: lan, want: 200, wantBody: "tezgah_outbox_pending"},
		{name: "static asset", method: "GET", target: "/static/app.js", remote: local, want: 200, wantBody: "EventSource"},
		{name: "unknown path", method: "GET", target: "/nope", remote: local, want: 404},
		{name: "action from the LAN, even with the token", method: "POST", target: "/api/cancel?token=pair-me", remote: lan,
			header: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer pair-me"}, body: `{"id":"R1"}`, want: 403, wantBody: "loopback_only"},
		{name: "action claiming loopback in a header", method: "POST", target: "/api/cancel", remote: lan,
			header: map[string]string{"Content-Type": "application/json", "X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"}, body: `{"id":"R1"}`, want: 403, wantBody: "loopback_only"},
		{name: "action by GET", method: "GET", target: "/api/reconcile", remote: local, want: 405},
		{name: "action from another site", method: "POST", target: "/api/reconcile", remote: local,
			header: map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, body: `{"id":"R1"}`, want: 403, wantBody: "cross_origin"},
		{name: "action from a cross-site fetch", method: "POST", target: "/api/reconcile", remote: local,
			header: map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, body: `{"id":"R1"}`, want: 403, wantBody: "cross_origin"},
		{name: "action as a form post", method: "POST", target: "/api/cancel", remote: local,
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: `id=R1`, want: 415, wantBody: "json_required"},
		{name: "action without an id", method: "POST", target: "/api/cancel", remote: local,
			header: map[string]string{"Content-Type": "application/json"}, body: `{"ids":["R1"]}`, want: 400, wantBody: "invalid_request"},
		{name: "action with broken JSON", method: "POST", target: "/api/cancel", remote: local,
			header: map[string]string{"Content-Type": "application/json"}, body: `{"id":`, want: 400, wantBody: "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			r.RemoteAddr = tc.remote
			r.Host = "127.0.0.1:8417"
			if tc.host != "" {
				r.Host = tc.host
			}
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("%s %s from %s: %d %s; want %d", tc.method, tc.target, tc.remote, w.Code, w.Body, tc.want)
			}
			if !strings.Contains(w.Body.String(), tc.wantBody) {
				t.Errorf("body %q lacks %q", w.Body, tc.wantBody)
			}
		})
	}
}

func TestPageHeaders(t *testing.T) {
	s := guarded(t)
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[::1]:50000"
	r.Host = "localhost:8417"
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	h := w.Result().Header
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers = %v", h)
	}
	if w.Code != http.StatusOK {
		t.Errorf("IPv6 loopback refused: %d", w.Code)
	}
}
