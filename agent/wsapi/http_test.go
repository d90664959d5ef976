package wsapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/internal/wireschema"
)

// FuzzHTTPDoor: whatever body, Tezgah-Register header, request id and
// wait come to the HTTP door, the answer is one JSON event with a status
// that fits it: 2xx only for a non-error event, an error's status from
// its code.
func FuzzHTTPDoor(f *testing.F) {
	f.Add(`{"type":"sale","id":"R1","terminal":"k","amount":"1.00"}`, "kasa-1", "R1", "0")
	f.Add(`{"type":"hello","register":"x"}`, "", "R1", "61")
	f.Add(`{"type":"query","id":"R1"}`, "bad name!", "../x", "-1")
	f.Add(`{"type":"ping"}`, "a", "R1%00", "1.5")
	f.Add(`not json`, "", "", "")
	s, _, _ := newServer(f, Options{Rate: 1e9, Burst: 1 << 30}) // the limit is not what is fuzzed
	f.Fuzz(func(t *testing.T, body, register, id, wait string) {
		check := func(w *httptest.ResponseRecorder) {
			var ev protocol.Event
			if err := json.Unmarshal(w.Body.Bytes(), &ev); err != nil {
				t.Fatalf("body %q: %v", w.Body.Bytes(), err)
			}
			if err := wireschema.ForTest(t).Event(w.Body.Bytes()); err != nil {
				t.Fatalf("the HTTP door answered an event outside the schema: %v", err)
			}
			switch {
			case ev.Error != nil && w.Code < 400:
				t.Fatalf("error %s with status %d", ev.Error.Code, w.Code)
			case ev.Error == nil && w.Code >= 300:
				t.Fatalf("%s with status %d", ev.Type, w.Code)
			case ev.Error != nil && w.Code != httpStatus(ev.Error.Code) && w.Code != http.StatusMethodNotAllowed:
				t.Fatalf("%s with status %d, want %d", ev.Error.Code, w.Code, httpStatus(ev.Error.Code))
			}
		}
		r := httptest.NewRequest("POST", "/v1/commands", strings.NewReader(body))
		r.RemoteAddr, r.Host = "127.0.0.1:5000", "127.0.0.1:8417"
		r.Header.Set(HeaderRegister, register)
		w := httptest.NewRecorder()
		s.ServeCommands(w, r)
		check(w)
		if n, err := strconv.Atoi(wait); err == nil && n > 0 && n <= MaxWait {
			wait = "0" // a real long poll would hold the fuzzer; e2e tests it
		}
		r = httptest.NewRequest("GET", "/v1/requests/x?wait="+url.QueryEscape(wait), nil)
		r.URL.Path = "/v1/requests/" + id
		r.RemoteAddr, r.Host = "127.0.0.1:5000", "127.0.0.1:8417"
		r.Header.Set(HeaderRegister, register)
		w = httptest.NewRecorder()
		s.ServeRequests(w, r)
		check(w)
	})
}

// The HTTP door shares the address's rate limit with its WebSocket
// connections: past it, 429 rate_limited with Retry-After.
func TestHTTPDoorRateLimit(t *testing.T) {
	s, ts, _ := newServer(t, Options{Rate: 0.001, Burst: 2})
	c := dial(t, ts, nil)
	c.WriteJSON(map[string]string{"type": "ping"}) // one from the WebSocket
	if ev := read(t, c); ev.Type != "pong" {
		t.Fatalf("%+v", ev)
	}
	post := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/v1/commands", strings.NewReader(`{"type":"ping"}`))
		r.RemoteAddr, r.Host = "127.0.0.1:5000", "127.0.0.1:8417"
		w := httptest.NewRecorder()
		s.ServeCommands(w, r)
		return w
	}
	if w := post(); w.Code != http.StatusOK {
		t.Fatalf("second command: %d %s", w.Code, w.Body)
	}
	w := post()
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), protocol.CodeRateLimited) {
		t.Fatalf("third command: %d %v %s", w.Code, w.Header(), w.Body)
	}
}

// The HTTP door counts its requests against the address's connection
// slots, as WebSockets, and answers a wrong method 405 naming the right
// one.
func TestHTTPDoorSlotsAndMethods(t *testing.T) {
	s, ts, _ := newServer(t, Options{MaxConnsPerClient: 1})
	c := dial(t, ts, nil) // the address's one slot
	c.WriteJSON(map[string]string{"type": "ping"})
	if ev := read(t, c); ev.Type != "pong" {
		t.Fatalf("%+v", ev)
	}
	do := func(method, target string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, strings.NewReader(`{"type":"ping"}`))
		r.RemoteAddr, r.Host = "127.0.0.1:5000", "127.0.0.1:8417"
		w := httptest.NewRecorder()
		if strings.HasPrefix(target, "/v1/commands") {
			s.ServeCommands(w, r)
		} else {
			s.ServeRequests(w, r)
		}
		return w
	}
	if w := do("POST", "/v1/commands"); w.Code != httpStatus(CodeTooManyConnections) || !strings.Contains(w.Body.String(), CodeTooManyConnections) {
		t.Fatalf("POST with the slot taken: %d %s", w.Code, w.Body)
	}
	for _, tc := range []struct{ method, target, allow string }{
		{"PUT", "/v1/commands", "POST"},
		{"GET", "/v1/commands", "POST"},
		{"POST", "/v1/requests/R1", "GET"},
		{"DELETE", "/v1/requests/R1", "GET"},
	} {
		w := do(tc.method, tc.target)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != tc.allow || !strings.Contains(w.Body.String(), protocol.CodeInvalidField) {
			t.Errorf("%s %s: %d Allow %q %s", tc.method, tc.target, w.Code, w.Header().Get("Allow"), w.Body)
		}
	}
}
