package wsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/internal/wireschema"
	"github.com/tezgah/tezgah/outbox"
)

// storeBackend is the smallest Backend over a real outbox: it accepts
// every terminal. The agent's own tests cover validation against config.
type storeBackend struct{ *outbox.Store }

func (b storeBackend) Submit(ctx context.Context, c protocol.Command) (outbox.Event, bool, error) {
	ev, existing, err := b.Accept(ctx, outbox.NewRequest{Register: c.Register, ID: c.ID, Terminal: c.Terminal, Op: c.Type, Body: c.Canonical()})
	if errors.Is(err, outbox.ErrIDConflict) {
		err = protocol.Errorf(protocol.CodeIDConflict, "id", "conflict")
	}
	return ev, existing, err
}
func (b storeBackend) Lookup(ctx context.Context, register, id string) (outbox.Event, error) {
	_, ev, err := b.Get(ctx, register, id)
	return ev, err
}
func (b storeBackend) Status(ctx context.Context) (protocol.Event, error) {
	return protocol.Event{Type: "status"}, nil
}

// Call answers op "echo" with its params and op "wait" once the test
// lets it; anything else is unsupported.
func (b storeBackend) Call(ctx context.Context, c protocol.Command) (protocol.Event, error) {
	switch c.Op {
	case "echo":
		return protocol.Event{Type: "reply", ID: c.ID, Op: c.Op, Data: c.Params}, nil
	case "wait":
		select {
		case <-callRelease:
			return protocol.Event{Type: "reply", ID: c.ID, Op: c.Op}, nil
		case <-ctx.Done():
			return protocol.Event{}, ctx.Err()
		}
	}
	return protocol.Event{}, protocol.Errorf(protocol.CodeUnsupportedOp, "op", "no op %q", c.Op)
}

var callRelease = make(chan struct{})

func serve(t *testing.T, opts Options) (*httptest.Server, *outbox.Store) {
	t.Helper()
	_, ts, store := newServer(t, opts)
	return ts, store
}

func newServer(t testing.TB, opts Options) (*Server, *httptest.Server, *outbox.Store) {
	t.Helper()
	store, err := outbox.Open(filepath.Join(t.TempDir(), "o.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := New(storeBackend{store}, opts)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		ts.Close()
		store.Close()
	})
	return s, ts, store
}

func dial(t *testing.T, ts *httptest.Server, h http.Header) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/v1/ws", h)
	if err != nil {
		t.Fatalf("dial: %v (status %v)", err, resp)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c *websocket.Conn) protocol.Event {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	// Every event must be one the protocol's JSON Schema describes.
	if err := wireschema.ForTest(t).Event(data); err != nil {
		t.Errorf("the server sent an event outside the schema: %v", err)
	}
	var ev protocol.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return ev
}

func TestHandshakeChecks(t *testing.T) {
	ts, _ := serve(t, Options{AllowedOrigins: []string{"http://127.0.0.1:8417"}, AllowedHosts: []string{"kasa.local"}})
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1/ws"
	tests := []struct {
		name   string
		header http.Header
		host   string
		status int
	}{
		{"plain client", nil, "", http.StatusSwitchingProtocols},
		{"allowed origin", http.Header{"Origin": {"http://127.0.0.1:8417"}}, "", http.StatusSwitchingProtocols},
		{"foreign origin", http.Header{"Origin": {"https://evil.example"}}, "", http.StatusForbidden},
		{"rebound host", nil, "evil.example", http.StatusForbidden},
		{"configured host", nil, "kasa.local:8417", http.StatusSwitchingProtocols},
		{"localhost", nil, "localhost:8417", http.StatusSwitchingProtocols},
		{"loopback address", nil, "127.0.0.1:8417", http.StatusSwitchingProtocols},
		{"this machine's mDNS name", nil, hostname(t) + ".local:8417", http.StatusSwitchingProtocols},
		{"foreign address", nil, "192.0.2.1:8417", http.StatusForbidden},
		{"rebound host that looks local", nil, "kasa.local.evil.example", http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := websocket.Dialer{}
			h := tc.header
			if h == nil {
				h = http.Header{}
			}
			if tc.host != "" {
				h.Set("Host", tc.host)
			}
			c, resp, err := d.Dial(url, h)
			if c != nil {
				c.Close()
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

// Clients on other machines need a token; the real loopback tests in
// lan_test.go cover the same path with RequireTokenOnLoopback.
func TestPairingTokenForLAN(t *testing.T) {
	s := New(nil, Options{PairingToken: "s3cret"})
	for _, tc := range []struct {
		remote, auth, query string
		code                string
	}{
		{"127.0.0.1:5000", "", "", ""},
		{"[::1]:5000", "", "", ""},
		{"192.0.2.7:5000", "", "", CodeTokenRequired},
		{"192.0.2.7:5000", "Bearer s3cret", "", ""},
		{"192.0.2.7:5000", "Bearer wrong", "", CodeTokenInvalid},
		{"192.0.2.7:5000", "", "token=s3cret", ""},
	} {
		r := httptest.NewRequest("GET", "/v1/ws?"+tc.query, nil)
		r.RemoteAddr = tc.remote
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		_, no := s.authorize(r)
		got := ""
		if no != nil {
			got = no.code
		}
		if got != tc.code {
			t.Errorf("%s %q %q: refused with %q, want %q", tc.remote, tc.auth, tc.query, got, tc.code)
		}
	}
	r := httptest.NewRequest("GET", "/v1/ws", nil)
	r.RemoteAddr = "192.0.2.7:5000"
	r.Header.Set("Authorization", "Bearer anything")
	if _, no := New(nil, Options{}).authorize(r); no == nil {
		t.Error("LAN client allowed with no token configured")
	}
}

// Bad input of every kind gets an error event and the connection keeps
// working; nothing is stored.
func TestBadInputKeepsConnection(t *testing.T) {
	ts, store := serve(t, Options{MaxFrameBytes: 1024})
	c := dial(t, ts, nil)
	cases := []struct {
		frame []byte
		typ   int
		code  string
	}{
		{[]byte(`{"type":`), websocket.TextMessage, protocol.CodeInvalidJSON},
		{[]byte(`{"type":"sale","id":"R1","terminal":"k","amount":1.005}`), websocket.TextMessage, protocol.CodeInvalidAmount},
		{[]byte(`{"type":"sale","id":"R1","terminal":"k","amount":"1.00","tip":"2"}`), websocket.TextMessage, protocol.CodeUnknownField},
		{[]byte(`{"type":"ping","pad":"` + strings.Repeat("x", 5000) + `"}`), websocket.TextMessage, protocol.CodeFrameTooLarge},
		{[]byte(`{"type":"ping"}`), websocket.BinaryMessage, protocol.CodeUnsupportedFrame},
		{[]byte(`{"type":"query","id":"nope"}`), websocket.TextMessage, protocol.CodeNotFound},
	}
	for _, tc := range cases {
		if err := c.WriteMessage(tc.typ, tc.frame); err != nil {
			t.Fatal(err)
		}
		ev := read(t, c)
		if ev.Type != "error" || ev.Error == nil || ev.Error.Code != tc.code {
			t.Fatalf("frame %.60s: got %+v, want error %s", tc.frame, ev, tc.code)
		}
	}
	c.WriteJSON(map[string]string{"type": "ping"})
	if ev := read(t, c); ev.Type != "pong" {
		t.Fatalf("after bad input: %+v, want pong", ev)
	}
	if store.LastSeq() != 0 {
		t.Fatalf("bad input stored %d events", store.LastSeq())
	}
}

func TestAcceptedThenReplay(t *testing.T) {
	ts, _ := serve(t, Options{})
	c := dial(t, ts, nil)
	sale := `{"type":"sale","id":"R1","terminal":"k","amount":"5.00"}`
	c.WriteMessage(websocket.TextMessage, []byte(sale))
	ev := read(t, c)
	if ev.Type != "accepted" || ev.ID != "R1" || ev.Seq != 1 || ev.State != "queued" || ev.Replay {
		t.Fatalf("got %+v", ev)
	}
	c.WriteMessage(websocket.TextMessage, []byte(sale))
	if ev := read(t, c); ev.Type != "accepted" || ev.Seq != 1 || !ev.Replay {
		t.Fatalf("duplicate: %+v, want replay of seq 1", ev)
	}
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"sale","id":"R1","terminal":"k","amount":"6.00"}`))
	if ev := read(t, c); ev.Type != "error" || ev.Error.Code != protocol.CodeIDConflict {
		t.Fatalf("conflict: %+v", ev)
	}
}

func TestResumeDeliversEverything(t *testing.T) {
	ts, store := serve(t, Options{})
	for i := range 5 {
		store.Accept(context.Background(), outbox.NewRequest{ID: "R" + string(rune('0'+i)), Terminal: "k", Op: "sale", Body: []byte{byte(i)}})
	}
	c := dial(t, ts, nil)
	c.WriteJSON(map[string]any{"type": "resume", "since": 2})
	if ev := read(t, c); ev.Type != "resumed" || *ev.LastSeq != 5 {
		t.Fatalf("got %+v", ev)
	}
	for want := int64(3); want <= 5; want++ {
		if ev := read(t, c); ev.Seq != want {
			t.Fatalf("seq %d, want %d", ev.Seq, want)
		}
	}
	store.Accept(context.Background(), outbox.NewRequest{ID: "LIVE", Terminal: "k", Op: "sale", Body: []byte("x")})
	if ev := read(t, c); ev.ID != "LIVE" || ev.Seq != 6 {
		t.Fatalf("live after resume: %+v", ev)
	}
}

func TestOtherConnectionsEventsNotSent(t *testing.T) {
	ts, _ := serve(t, Options{})
	a, b := dial(t, ts, nil), dial(t, ts, nil)
	a.WriteMessage(websocket.TextMessage, []byte(`{"type":"sale","id":"A1","terminal":"k","amount":"1.00"}`))
	read(t, a)
	b.WriteJSON(map[string]string{"type": "ping"})
	if ev := read(t, b); ev.Type != "pong" {
		t.Fatalf("b got %+v before its pong: another register's event leaked", ev)
	}
}

func TestRateLimit(t *testing.T) {
	ts, _ := serve(t, Options{Rate: 1, Burst: 2})
	c := dial(t, ts, nil)
	var codes []string
	for range 3 {
		c.WriteJSON(map[string]string{"type": "ping"})
		ev := read(t, c)
		codes = append(codes, ev.Type)
		if ev.Error != nil {
			codes[len(codes)-1] = ev.Error.Code
		}
	}
	b, _ := json.Marshal(codes)
	if string(b) != `["pong","pong","rate_limited"]` {
		t.Fatalf("got %s", b)
	}
}

func TestCallDoesNotBlockOtherCommands(t *testing.T) {
	ts, _ := serve(t, Options{})
	c := dial(t, ts, nil)
	// A call waiting on its provider must not hold up the next command.
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"call","id":"c1","terminal":"t","op":"wait"}`))
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"call","id":"c2","terminal":"t","op":"echo","params":{"bin":"454360"}}`))
	ev := read(t, c)
	if ev.Type != "reply" || ev.ID != "c2" || string(ev.Data) != `{"bin":"454360"}` {
		t.Fatalf("first frame = %+v, want c2's reply", ev)
	}
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"call","id":"c3","terminal":"t","op":"nope"}`))
	if ev := read(t, c); ev.Type != "error" || ev.ID != "c3" || ev.Error.Code != protocol.CodeUnsupportedOp {
		t.Fatalf("unknown op = %+v", ev)
	}
	callRelease <- struct{}{}
	if ev := read(t, c); ev.Type != "reply" || ev.ID != "c1" {
		t.Fatalf("after release = %+v, want c1's reply", ev)
	}
}

// A register that sends its first command the moment it connects gets its
// "accepted": the stream must start before the reader can commit anything.
func TestFirstCommandAcceptedOnNewConnection(t *testing.T) {
	ts, _ := serve(t, Options{MaxConnsPerClient: 100})
	for i := range 50 {
		c := dial(t, ts, nil)
		id := fmt.Sprint("F", i)
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"sale","id":"`+id+`","terminal":"kasa-1","amount":"1.00"}`))
		if ev := read(t, c); ev.Type != "accepted" || ev.ID != id {
			t.Fatalf("connection %d: first frame %+v, want %s accepted", i, ev, id)
		}
		c.Close()
	}
}

// A register that resumes and at once sends a command sees every seq once,
// in increasing order: the command's events never come before the replay.
func TestResumeThenCommandKeepsSeqIncreasing(t *testing.T) {
	ts, store := serve(t, Options{MaxConnsPerClient: 100})
	ctx := context.Background()
	for i := range 3 { // history to replay
		store.Accept(ctx, outbox.NewRequest{ID: fmt.Sprint("OLD", i), Terminal: "kasa-1", Op: "sale", Body: []byte(fmt.Sprint(i))})
	}
	for i := range 20 {
		c := dial(t, ts, nil)
		id := fmt.Sprint("N", i)
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"resume","since":0}`))
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"sale","id":"`+id+`","terminal":"kasa-1","amount":"1.00"}`))
		var last int64
		for {
			ev := read(t, c)
			if ev.Seq != 0 {
				if ev.Seq <= last {
					t.Fatalf("round %d: seq %d after %d (%s %s)", i, ev.Seq, last, ev.Type, ev.ID)
				}
				last = ev.Seq
			}
			if ev.Type == "accepted" && ev.ID == id {
				break
			}
		}
		c.Close()
	}
}

// flood sends pings on c every interval (0: as fast as it can) until
// the connection fails, and returns the error that ended reading it.
func flood(t *testing.T, c *websocket.Conn, interval time.Duration, wait time.Duration) error {
	t.Helper()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		var tick <-chan time.Time
		if interval > 0 {
			tk := time.NewTicker(interval)
			defer tk.Stop()
			tick = tk.C
		}
		for {
			if tick != nil {
				select {
				case <-tick:
				case <-stop:
					return
				}
			}
			select {
			case <-stop:
				return
			default:
			}
			if c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)) != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(wait))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return err
		}
	}
}

// A flooder is told why it is disconnected: the close frame 1008
// rate_limited reaches it, not a reset (1006), every time. This one
// writes a burst before reading anything, so when the agent closes,
// frames are still unread on both sides: closing then would reset the
// connection and drop the agent's unsent frames, the close frame with
// them.
func TestFloodGetsCloseFrame(t *testing.T) {
	ts, _ := serve(t, Options{Rate: 1, Burst: 1000})
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1/ws"
	for i := range 10 {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 3000 {
			if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)); err != nil {
				break
			}
		}
		err = flood(t, c, 0, 30*time.Second)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || !strings.HasPrefix(ce.Text, CodeRateLimited+":") {
			t.Fatalf("try %d: flooder got %v, want close 1008 %s", i+1, err, CodeRateLimited)
		}
		c.Close()
	}
}

// A steady flooder at ~9 times the rate gets one command through per
// refill; it is still disconnected, within the refusal window.
func TestSteadyFlooderDisconnected(t *testing.T) {
	ts, _ := serve(t, Options{Rate: 20, Burst: 20})
	c := dial(t, ts, nil)
	start := time.Now()
	err := flood(t, c, time.Second/180, 30*time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || !strings.HasPrefix(ce.Text, CodeRateLimited+":") {
		t.Fatalf("steady flooder got %v after %v, want close 1008 %s", err, time.Since(start), CodeRateLimited)
	}
	// The burst lasts ~0.1 s, then over 20 refusals come within ~0.15 s;
	// the window (5 s) is the bound, with room for a loaded machine.
	if d := time.Since(start); d > floodSpan+5*time.Second {
		t.Fatalf("disconnected after %v", d)
	}
}

func TestFloodWindow(t *testing.T) {
	var f floodWindow
	t0 := time.Unix(1000, 0)
	// One refusal a second never adds up to more than 3 within 5 s.
	for i := range 20 {
		if f.refuse(t0.Add(time.Duration(i)*1100*time.Millisecond), 5) {
			t.Fatalf("refusal %d at 1.1/s closed", i)
		}
	}
	var g floodWindow
	for i := range 6 {
		closed := g.refuse(t0.Add(time.Duration(i)*100*time.Millisecond), 5)
		if closed != (i == 5) {
			t.Fatalf("refusal %d: closed=%v", i, closed)
		}
	}
}

// TestRegisterGoneIsNotAnError: a command whose register hung up before
// it reached the outbox is logged as information, not as the agent's
// failure; any other failure to store stays an error.
func TestRegisterGoneIsNotAnError(t *testing.T) {
	var buf strings.Builder
	s := &Server{log: slog.New(slog.NewTextHandler(&buf, nil))}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("outbox: %w", context.Canceled), "level=INFO"},
		{errors.New("disk I/O error"), "level=ERROR"},
	} {
		buf.Reset()
		if pe := s.internal(tc.err, "id", "R1"); pe.Code != protocol.CodeUnavailable {
			t.Errorf("%v: code %q", tc.err, pe.Code)
		}
		if !strings.Contains(buf.String(), tc.want) {
			t.Errorf("%v: logged %q, want %s", tc.err, buf.String(), tc.want)
		}
	}
}
