package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/internal/agenttest"
	"github.com/tezgah/tezgah/internal/testwait"
)

// The register boundary (issue 16), over real WebSockets and real HTTP to
// an in-process agent with the iyzico simulator.

// bEvent is every field of an event these tests read.
type bEvent struct {
	Type     string `json:"type"`
	ID       string `json:"id"`
	Register string `json:"register"`
	Seq      int64  `json:"seq"`
	Replay   bool   `json:"replay"`
	State    string `json:"state"`
	Status   string `json:"status"`
	Agent    any    `json:"agent"`
	Protocol int    `json:"protocol"`
	LastSeq  *int64 `json:"last_seq"`
	Scope    string `json:"scope"`
	Payment  struct {
		PaymentID string `json:"payment_id"`
	} `json:"payment"`
	Error *struct {
		Code         string `json:"code"`
		Field        string `json:"field"`
		Message      string `json:"message"`
		RetryAfterMS int    `json:"retry_after_ms"`
	} `json:"error"`
}

func (e bEvent) code() string {
	if e.Error == nil {
		return ""
	}
	return e.Error.Code
}

// boundaryAgent runs an agent on the demo's iyzico terminals (kasa-1,
// kasa-2) against a simulator of the test's, after tune changes cfg. It
// returns the WebSocket URL, the HTTP base URL and the simulator.
func boundaryAgent(t *testing.T, sim iyzicosim.Options, tune func(*config.Config)) (string, string, *iyzicosim.Server) {
	t.Helper()
	cfg := config.Demo()
	cfg.Filedrop.Enabled = false
	s := agenttest.IyzicoOnly(t, cfg, sim)
	if tune != nil {
		tune(cfg)
	}
	ws := agenttest.Run(t, cfg, agent.Options{Version: "test"})
	return ws, "http" + strings.TrimSuffix(strings.TrimPrefix(ws, "ws"), "/v1/ws"), s
}

// wsReg is one register connection that reads into a channel.
type wsReg struct {
	t   *testing.T
	c   *websocket.Conn
	evs chan bEvent
	mu  sync.Mutex
	all []bEvent
}

func connect(t *testing.T, url, hello string) *wsReg {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &wsReg{t: t, c: c, evs: make(chan bEvent, 1024)}
	go func() {
		defer close(r.evs)
		for {
			var ev bEvent
			if err := c.ReadJSON(&ev); err != nil {
				return
			}
			r.mu.Lock()
			r.all = append(r.all, ev)
			r.mu.Unlock()
			r.evs <- ev
		}
	}()
	if hello != "" {
		r.send(map[string]any{"type": "hello", "register": hello})
		ev := r.next(func(e bEvent) bool { return e.Type == "hello" || e.Type == "error" })
		if ev.Type != "hello" || ev.Register != hello || ev.Protocol != 1 || ev.LastSeq == nil {
			t.Fatalf("hello answered %+v", ev)
		}
	}
	return r
}

func (r *wsReg) send(cmd map[string]any) {
	r.t.Helper()
	if err := r.c.WriteJSON(cmd); err != nil {
		r.t.Fatal(err)
	}
}

// next returns the next event that matches, failing after 20 s.
func (r *wsReg) next(match func(bEvent) bool) bEvent {
	r.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-r.evs:
			if !ok {
				r.t.Fatal("connection closed")
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			r.t.Fatal("no matching event within 20s")
		}
	}
}

func (r *wsReg) seen() []bEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bEvent(nil), r.all...)
}

func isType(typ, id string) func(bEvent) bool {
	return func(e bEvent) bool { return e.ID == id && (e.Type == typ || e.Type == "error") }
}

func sale(id, terminal string) map[string]any {
	return map[string]any{"type": "sale", "id": id, "terminal": terminal, "amount": "10.00"}
}

// Two registers that both number receipts from 1 send R1-1 for the same
// terminal and amount: two requests, two payments at the provider, two
// results, no id_conflict, and neither sees the other's events.
func TestTwoRegistersSameID(t *testing.T) {
	url, _, sim := boundaryAgent(t, iyzicosim.Options{}, nil)
	a, b := connect(t, url, "kasa-pc-1"), connect(t, url, "kasa-pc-2")
	a.send(sale("R1-1", "kasa-1"))
	b.send(sale("R1-1", "kasa-1"))
	ra, rb := a.next(isType("result", "R1-1")), b.next(isType("result", "R1-1"))
	if ra.Status != "approved" || rb.Status != "approved" || ra.Register != "kasa-pc-1" || rb.Register != "kasa-pc-2" {
		t.Fatalf("results: %+v / %+v", ra, rb)
	}
	if ra.Payment.PaymentID == "" || ra.Payment.PaymentID == rb.Payment.PaymentID {
		t.Fatalf("two sales share payment %q", ra.Payment.PaymentID)
	}
	var sales int
	refs := map[string]bool{}
	for _, e := range sim.Ledger() {
		if e.Op == "sale" && e.Amount == 1000 {
			sales++
			refs[e.Reference] = true
		}
	}
	if sales != 2 || len(refs) != 2 {
		t.Fatalf("the provider recorded %d sales of 10.00, want 2: %+v", sales, sim.Ledger())
	}
	for _, r := range []*wsReg{a, b} {
		for _, e := range r.seen() {
			if e.Replay || e.Type == "error" {
				t.Fatalf("unexpected %+v", e)
			}
		}
	}
	// A query is scoped too: each sees its own; local has no R1-1.
	a.send(map[string]any{"type": "query", "id": "R1-1"})
	if q := a.next(isType("result", "R1-1")); !q.Replay || q.Payment.PaymentID != ra.Payment.PaymentID {
		t.Fatalf("kasa-pc-1's query = %+v", q)
	}
	l := connect(t, url, "")
	l.send(map[string]any{"type": "query", "id": "R1-1"})
	if q := l.next(isType("none", "R1-1")); q.code() != "not_found" {
		t.Fatalf("local's query of R1-1 = %+v, want not_found", q)
	}
	// A call's original_id is looked up among the caller's own ids.
	call := map[string]any{"type": "call", "id": "c-1", "terminal": "kasa-1", "op": "transaction_status", "params": map[string]any{"original_id": "R1-1"}}
	l.send(call)
	if ev := l.next(func(e bEvent) bool { return e.ID == "c-1" }); ev.code() != "unknown_original" {
		t.Fatalf("local's call on R1-1 = %+v, want unknown_original", ev)
	}
	a.send(call)
	if ev := a.next(func(e bEvent) bool { return e.ID == "c-1" }); ev.Type != "reply" {
		t.Fatalf("kasa-pc-1's call on its R1-1 = %+v", ev)
	}
	// A refund names the same register's sale.
	b.send(map[string]any{"type": "refund", "id": "R1-2", "terminal": "kasa-1", "original_id": "R1-1", "amount": "10.00"})
	if r := b.next(isType("result", "R1-2")); r.Status != "approved" {
		t.Fatalf("kasa-pc-2's refund = %+v", r)
	}
	// A connection is bound once: another name is refused, the first
	// stays.
	a.send(map[string]any{"type": "hello", "register": "kasa-pc-2"})
	if e := a.next(func(e bEvent) bool { return e.Type == "error" || e.Type == "hello" }); e.code() != "register_mismatch" {
		t.Fatalf("second hello = %+v", e)
	}
	l.send(map[string]any{"type": "hello", "register": "kasa-pc-9"})
	if e := l.next(func(e bEvent) bool { return e.Type == "error" || e.Type == "hello" }); e.code() != "register_mismatch" {
		t.Fatalf("hello after local's first command = %+v", e)
	}
}

// Every command that can follow a request — query, cancel (refused),
// a resend, resume — makes its connection receive the request's later
// events up to its result, like the sender's; and the sender keeps its
// own stream after a refused cancel (the repro: the result went
// nowhere after "not_cancellable").
func TestEveryCommandFollows(t *testing.T) {
	url, _, sim := boundaryAgent(t, iyzicosim.Options{}, nil)
	// Each sale stays "sending" long enough to be followed, even on a
	// loaded machine.
	sim.SetFaults(iyzicosim.Faults{Latency: 3 * time.Second})
	for _, tc := range []struct {
		name string
		// follow is sent on the follower once the sale is "sending".
		follow func(id string, since int64) map[string]any
		own    bool // the follower is the sender itself
	}{
		{"refused cancel on the sender", func(id string, _ int64) map[string]any { return map[string]any{"type": "cancel", "id": id} }, true},
		{"query", func(id string, _ int64) map[string]any { return map[string]any{"type": "query", "id": id} }, false},
		{"refused cancel", func(id string, _ int64) map[string]any { return map[string]any{"type": "cancel", "id": id} }, false},
		{"resend", func(id string, _ int64) map[string]any { return sale(id, "kasa-2") }, false},
		{"resume", func(_ string, since int64) map[string]any { return map[string]any{"type": "resume", "since": since} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "F-" + strings.ReplaceAll(tc.name, " ", "-")
			s := connect(t, url, "kasa-pc-1")
			s.send(sale(id, "kasa-2"))
			acc := s.next(isType("accepted", id))
			s.next(func(e bEvent) bool { return e.ID == id && e.State == "sending" })
			f := s
			if !tc.own {
				f = connect(t, url, "kasa-pc-1")
			}
			f.send(tc.follow(id, acc.Seq))
			first := f.next(func(e bEvent) bool { return e.ID == id || e.Type == "resumed" })
			switch tc.name {
			case "refused cancel on the sender", "refused cancel":
				if first.code() != "not_cancellable" {
					t.Fatalf("cancel of a sending sale = %+v", first)
				}
			}
			res := f.next(isType("result", id))
			if res.Status != "approved" || res.Replay {
				t.Fatalf("follower's result = %+v", res)
			}
			if !tc.own {
				if r := s.next(isType("result", id)); r.Status != "approved" {
					t.Fatalf("sender's result = %+v", r)
				}
			}
		})
	}
}

// post sends one command to the HTTP door.
func post(t *testing.T, base string, h http.Header, body string) (int, http.Header, bEvent) {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/v1/commands", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	return do(t, req)
}

func get(t *testing.T, base, path string, h http.Header) (int, http.Header, bEvent) {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, http.Header, bEvent) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var ev bEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatalf("%s %s: body %q: %v", req.Method, req.URL, data, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	return resp.StatusCode, resp.Header, ev
}

func named(name string) http.Header { return http.Header{"Tezgah-Register": {name}} }

// The HTTP door answers as the WebSocket would, with status codes.
func TestHTTPDoor(t *testing.T) {
	_, base, sim := boundaryAgent(t, iyzicosim.Options{}, func(c *config.Config) {
		c.Agent.MaxQueuedPerTerminal = 1
	})
	h := named("vb6-kasa")
	// H1 stays on kasa-1 while the next commands come.
	sim.SetFaults(iyzicosim.Faults{Latency: 5 * time.Second})
	body := `{"type":"sale","id":"H1","terminal":"kasa-1","amount":"25.00"}`
	code, _, ev := post(t, base, h, body)
	if code != http.StatusAccepted || ev.Type != "accepted" || ev.Register != "vb6-kasa" || ev.Seq == 0 || ev.Replay {
		t.Fatalf("first POST = %d %+v", code, ev)
	}
	code, _, ev = post(t, base, h, body)
	if code != http.StatusOK || !ev.Replay || ev.ID != "H1" {
		t.Fatalf("same POST again = %d %+v, want 200 replay", code, ev)
	}
	code, _, ev = post(t, base, h, `{"type":"sale","id":"H1","terminal":"kasa-1","amount":"26.00"}`)
	if code != http.StatusConflict || ev.code() != "id_conflict" {
		t.Fatalf("id reused = %d %+v", code, ev)
	}
	code, _, ev = post(t, base, h, `{"type":"sale","id":"H2","terminal":"kasa-1","amount":"1.001"}`)
	if code != http.StatusBadRequest || ev.code() != "invalid_amount" {
		t.Fatalf("bad amount = %d %+v", code, ev)
	}
	// kasa-1 holds H1 and its cap is 1: the next sale is busy, at once,
	// and nothing is stored.
	code, hdr, ev := post(t, base, h, `{"type":"sale","id":"H3","terminal":"kasa-1","amount":"5.00"}`)
	if code != http.StatusServiceUnavailable || ev.code() != "busy" || ev.Error.RetryAfterMS < 1 || hdr.Get("Retry-After") == "" {
		t.Fatalf("over the terminal's cap = %d %v %+v", code, hdr, ev)
	}
	if code, _, ev := get(t, base, "/v1/requests/H3", h); code != http.StatusNotFound || ev.code() != "not_found" {
		t.Fatalf("busy H3 stored: %d %+v", code, ev)
	}
	// The long poll answers with the result when it arrives.
	start := time.Now()
	code, _, ev = get(t, base, "/v1/requests/H1?wait=30", h)
	if code != http.StatusOK || ev.Type != "result" || ev.Status != "approved" || !ev.Replay {
		t.Fatalf("long poll = %d %+v", code, ev)
	}
	if time.Since(start) > 25*time.Second {
		t.Fatalf("long poll took %v", time.Since(start))
	}
	if code, _, ev := get(t, base, "/v1/requests/H1?wait=61", h); code != http.StatusBadRequest || ev.Error.Field != "wait" {
		t.Fatalf("wait=61 = %d %+v", code, ev)
	}
	// Another register does not see vb6-kasa's H1.
	if code, _, _ := get(t, base, "/v1/requests/H1", named("other")); code != http.StatusNotFound {
		t.Fatalf("other register's GET of H1 = %d", code)
	}
	if code, _, ev := get(t, base, "/v1/requests/H1", nil); code != http.StatusNotFound {
		t.Fatalf("local's GET of H1 = %d %+v", code, ev)
	}
	// Non-storing commands answer 200.
	if code, _, ev := post(t, base, h, `{"type":"ping"}`); code != http.StatusOK || ev.Type != "pong" {
		t.Fatalf("ping = %d %+v", code, ev)
	}
	if code, _, ev := post(t, base, h, `{"type":"hello","register":"x"}`); code != http.StatusBadRequest {
		t.Fatalf("hello over HTTP = %d %+v", code, ev)
	}
	if code, _, ev := post(t, base, named("bad name!"), `{"type":"ping"}`); code != http.StatusBadRequest || ev.Error.Field != "register" {
		t.Fatalf("bad register header = %d %+v", code, ev)
	}
	// Host and Origin rules are the WebSocket's.
	req, _ := http.NewRequest("POST", base+"/v1/commands", strings.NewReader(`{"type":"ping"}`))
	req.Host = "evil.example"
	if code, _, ev := do(t, req); code != http.StatusForbidden || ev.code() != "host_not_allowed" {
		t.Fatalf("rebound Host = %d %+v", code, ev)
	}
	if code, _, ev := post(t, base, http.Header{"Origin": {"https://evil.example"}}, `{"type":"ping"}`); code != http.StatusForbidden || ev.code() != "origin_not_allowed" {
		t.Fatalf("foreign Origin = %d %+v", code, ev)
	}
	if code, _, ev := post(t, base, h, `{"type":"ping","pad":"`+strings.Repeat("x", 70<<10)+`"}`); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body = %d %+v", code, ev)
	}
}

// With a token required, the token is the register: a header naming
// another is 403 register_mismatch; no token is 401.
func TestHTTPDoorToken(t *testing.T) {
	_, base, _ := boundaryAgent(t, iyzicosim.Options{}, func(c *config.Config) {
		c.Agent.PairingToken = "s3cret-token"
		c.LAN.RequireTokenOnLoopback = true
	})
	bearer := http.Header{"Authorization": {"Bearer s3cret-token"}}
	if code, _, ev := post(t, base, nil, `{"type":"ping"}`); code != http.StatusUnauthorized || ev.code() != "token_required" {
		t.Fatalf("no token = %d %+v", code, ev)
	}
	code, _, ev := post(t, base, bearer, `{"type":"sale","id":"T1","terminal":"kasa-1","amount":"3.00"}`)
	if code != http.StatusAccepted || ev.Register != "agent.pairing_token" {
		t.Fatalf("with token = %d %+v", code, ev)
	}
	h := bearer.Clone()
	h.Set("Tezgah-Register", "someone-else")
	if code, _, ev := post(t, base, h, `{"type":"ping"}`); code != http.StatusForbidden || ev.code() != "register_mismatch" {
		t.Fatalf("token + other register = %d %+v", code, ev)
	}
	h.Set("Tezgah-Register", "agent.pairing_token")
	if code, _, ev := get(t, base, "/v1/requests/T1", h); code != http.StatusOK || ev.ID != "T1" {
		t.Fatalf("token + its own name = %d %+v", code, ev)
	}
}

// Driven past its capacity — many registers selling back to back to a
// provider that answers at once — the agent answers every sale within
// its bound, accepted or busy; none waits in silence, and a busy sale is
// not stored.
func TestOverloadAnswersBusyAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		perTerm int
		reason  string // in the busy message
	}{
		{"writer backlog", 1 << 20, "max_accept_wait"},
		{"terminal queue", 40, "max_queued_per_terminal"},
	} {
		t.Run(tc.name, func(t *testing.T) { overload(t, tc.perTerm, tc.reason) })
	}
}

func overload(t *testing.T, perTerminal int, reason string) {
	const bound = 10 * time.Millisecond // the least allowed: the load must pass it on a fast machine too
	url, _, _ := boundaryAgent(t, iyzicosim.Options{}, func(c *config.Config) {
		c.Agent.MaxAcceptWait.Duration = bound
		c.Agent.MaxQueuedPerTerminal = perTerminal
	})
	const conns, each = 48, 25
	// Slack for a loaded, race-instrumented test machine: the bound is
	// on the expected wait the agent sees, and the answer must still be
	// scheduled and written.
	const slack = 5 * time.Second
	type outcome struct {
		accepted, busy int
		reasons        map[string]int
		lat            map[string][]time.Duration // by answer
		worst          time.Duration
		busyIDs        []string
		problems       []string
	}
	out := make([]outcome, conns)
	var wg sync.WaitGroup
	for c := range conns {
		wg.Go(func() {
			// Each register from its own address, as in a shop: the
			// per-address rate limit is not what this test is about.
			local := &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(c+1))}
			d := websocket.Dialer{NetDial: (&net.Dialer{LocalAddr: local}).Dial}
			ws, _, err := d.Dial(url, nil)
			if err != nil {
				out[c].problems = append(out[c].problems, err.Error())
				return
			}
			defer ws.Close()
			ws.WriteJSON(map[string]any{"type": "hello", "register": "load-" + string(rune('a'+c%26)) + string(rune('a'+c/26))})
			for i := range each {
				id := "L" + string(rune('a'+i%26)) + string(rune('a'+i/26))
				t0 := time.Now()
				ws.WriteJSON(map[string]any{"type": "sale", "id": id, "terminal": []string{"kasa-1", "kasa-2"}[i%2], "amount": "1.00", "expires_in": 3600})
				for {
					ws.SetReadDeadline(time.Now().Add(30 * time.Second))
					var ev bEvent
					if err := ws.ReadJSON(&ev); err != nil {
						out[c].problems = append(out[c].problems, "no answer: "+err.Error())
						return
					}
					if ev.ID != id || (ev.Type != "accepted" && ev.Type != "error") {
						continue // hello, other sales' state and result events
					}
					took := time.Since(t0)
					out[c].worst = max(out[c].worst, took)
					if out[c].lat == nil {
						out[c].lat = map[string][]time.Duration{}
					}
					out[c].lat[ev.Type+ev.code()] = append(out[c].lat[ev.Type+ev.code()], took)
					switch {
					case ev.Type == "accepted":
						out[c].accepted++
					case ev.code() == "busy" && ev.Error.RetryAfterMS >= 1:
						out[c].busy++
						if out[c].reasons == nil {
							out[c].reasons = map[string]int{}
						}
						for _, r := range []string{"max_accept_wait", "max_queued_per_terminal"} {
							if strings.Contains(ev.Error.Message, r) {
								out[c].reasons[r]++
							}
						}
						out[c].busyIDs = append(out[c].busyIDs, id)
					default:
						out[c].problems = append(out[c].problems, id+": "+ev.code())
					}
					break
				}
			}
		})
	}
	wg.Wait()
	var accepted, busy int
	var worst time.Duration
	reasons := map[string]int{}
	lat := map[string][]time.Duration{}
	for c, o := range out {
		for _, p := range o.problems {
			t.Errorf("register %d: %s", c, p)
		}
		accepted += o.accepted
		busy += o.busy
		for r, n := range o.reasons {
			reasons[r] += n
		}
		for k, l := range o.lat {
			lat[k] = append(lat[k], l...)
		}
		worst = max(worst, o.worst)
	}
	t.Logf("%d sales: %d accepted, %d busy %v; slowest answer %v (bound %v)", conns*each, accepted, busy, reasons, worst, bound)
	for k, l := range lat {
		slices.Sort(l)
		t.Logf("%s: p50 %v, p99 %v, max %v", k, l[len(l)/2], l[len(l)*99/100], l[len(l)-1])
	}
	if accepted+busy != conns*each {
		t.Fatalf("%d answered of %d", accepted+busy, conns*each)
	}
	if worst > bound+slack {
		t.Fatalf("slowest answer %v: past the bound %v (+%v slack)", worst, bound, slack)
	}
	if reasons[reason] == 0 {
		t.Fatalf("no sale was refused busy for %s: the load did not pass that bound", reason)
	}
	// A busy sale was not stored.
	for c, o := range out {
		if len(o.busyIDs) == 0 {
			continue
		}
		r := connect(t, url, "load-"+string(rune('a'+c%26))+string(rune('a'+c/26)))
		r.send(map[string]any{"type": "query", "id": o.busyIDs[0]})
		if ev := r.next(isType("none", o.busyIDs[0])); ev.code() != "not_found" {
			t.Fatalf("busy %s was stored: %+v", o.busyIDs[0], ev)
		}
		break
	}
}

// The status page's data lists the registers connected now with their
// last command, and the attempts refused in the last hour with why.
func TestStatusShowsRegisters(t *testing.T) {
	url, base, _ := boundaryAgent(t, iyzicosim.Options{}, nil)
	r := connect(t, url, "kasa-pc-7")
	r.send(map[string]any{"type": "ping"})
	r.next(func(e bEvent) bool { return e.Type == "pong" })
	d := websocket.Dialer{}
	if c, _, err := d.Dial(url, http.Header{"Origin": {"https://evil.example"}}); err == nil {
		c.Close()
		t.Fatal("foreign origin admitted")
	}
	type view struct {
		Registers struct {
			Connected []struct {
				Register, Remote, Transport string
				LastCommand                 *struct{ Type string } `json:"last_command"`
			}
			Refused []struct{ Code, Remote string }
		}
	}
	var v view
	testwait.For(t, "the page's data to show kasa-pc-7 and the refusal", 20*time.Second, func() bool {
		resp, err := http.Get(base + "/api/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		v = view{}
		json.NewDecoder(resp.Body).Decode(&v)
		var conn, refused bool
		for _, c := range v.Registers.Connected {
			conn = conn || (c.Register == "kasa-pc-7" && c.Transport == "websocket" && c.Remote == "127.0.0.1" && c.LastCommand != nil && c.LastCommand.Type == "ping")
		}
		for _, f := range v.Registers.Refused {
			refused = refused || f.Code == "origin_not_allowed"
		}
		return conn && refused
	}, func() string { b, _ := json.Marshal(v); return string(b) })
}

// The drop folder has its own namespace: a file's sale and a register's
// sale with the same id are two requests, and the file's events name the
// register "@filedrop".
func TestFiledropOwnNamespace(t *testing.T) {
	var cfg *config.Config
	url, _, _ := boundaryAgent(t, iyzicosim.Options{}, func(c *config.Config) {
		c.Filedrop.Enabled = true
		c.Filedrop.StableFor.Duration = 50 * time.Millisecond
		cfg = c
	})
	dir := agent.FiledropDir(cfg)
	if err := os.WriteFile(filepath.Join(dir, "inbox", "day.json"), []byte(`{"type":"sale","id":"R1-1","terminal":"kasa-1","amount":"7.00"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the file's result", 30*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(dir, "done", "day.json.result.json"))
		return err == nil
	}, func() string { return "" })
	r := connect(t, url, "")
	r.send(sale("R1-1", "kasa-1"))
	if ev := r.next(isType("accepted", "R1-1")); ev.Type != "accepted" || ev.Replay || ev.Register != "local" {
		t.Fatalf("local's R1-1 after the file's: %+v", ev)
	}
	m := connect(t, url, "")
	m.send(map[string]any{"type": "resume", "since": 0, "scope": "all"})
	ev := m.next(func(e bEvent) bool { return e.Type == "result" })
	if ev.Register != "@filedrop" || !strings.HasSuffix(ev.ID, ":R1-1") {
		t.Fatalf("the file's result = %+v, want register @filedrop", ev)
	}
}

// While the provider is unreachable, sales waiting on it may add up to
// agent.max_outage_amount; past it a sale is busy at once and stored
// nothing. Once the provider answers again the cap no longer applies.
func TestOutageAmountCap(t *testing.T) {
	url, base, sim := boundaryAgent(t, iyzicosim.Options{}, func(c *config.Config) {
		c.Agent.MaxOutageAmount = map[string]string{"TRY": "30.00"}
	})
	sim.SetFaults(iyzicosim.Faults{FailRate5xx: 1})
	r := connect(t, url, "kasa-pc-1")
	amt := func(id, a string) map[string]any {
		return map[string]any{"type": "sale", "id": id, "terminal": "kasa-1", "amount": a, "expires_in": 600}
	}
	r.send(amt("O1", "20.00"))
	r.next(isType("accepted", "O1"))
	// The first failed call tells the agent the provider is away (the
	// status page says "failing" from the same observation).
	var st struct {
		Providers []struct{ Name, State string }
	}
	testwait.For(t, "iyzico to be failing", 20*time.Second, func() bool {
		resp, err := http.Get(base + "/api/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&st)
		for _, p := range st.Providers {
			if p.Name == "iyzico" && p.State == "failing" {
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprint(st) })
	r.send(amt("O2", "15.00"))
	if ev := r.next(isType("accepted", "O2")); ev.code() != "busy" || ev.Error.RetryAfterMS < 1 {
		t.Fatalf("20.00 waiting + 15.00 over a 30.00 cap = %+v, want busy", ev)
	}
	r.send(amt("O3", "10.00"))
	if ev := r.next(isType("accepted", "O3")); ev.Type != "accepted" {
		t.Fatalf("20.00 + 10.00 within the cap = %+v", ev)
	}
	r.send(map[string]any{"type": "query", "id": "O2"})
	if ev := r.next(isType("none", "O2")); ev.code() != "not_found" {
		t.Fatalf("busy O2 was stored: %+v", ev)
	}
	sim.SetFaults(iyzicosim.Faults{})
	r.next(isType("result", "O1"))
	r.next(isType("result", "O3"))
	r.send(amt("O4", "500.00"))
	if ev := r.next(isType("accepted", "O4")); ev.Type != "accepted" {
		t.Fatalf("a sale after the outage = %+v", ev)
	}
}

// The repro, as written: `tezgah run --demo`, a sale on the
// Paywall terminal kasa-3, "cancel" as soon as "state: sending" arrives.
// Whatever the cancel's answer, the sale's result reaches the connection
// that sent it.
func TestDemoPaywallCancelWhileSending(t *testing.T) {
	cfg := config.Demo()
	cfg.Filedrop.Enabled = false
	url := agenttest.Run(t, cfg, agent.Options{Version: "test", Demo: true})
	r := connect(t, url, "")
	r.send(map[string]any{"type": "sale", "id": "PW-1", "terminal": "kasa-3", "amount": "12.00",
		"items": []map[string]any{{"name": "Çay", "quantity": "1", "amount": "12.00", "vat_rate": 20}}})
	first := r.next(func(e bEvent) bool { return e.ID == "PW-1" })
	if first.Type != "accepted" {
		t.Fatalf("sale: %+v", first)
	}
	r.next(func(e bEvent) bool { return e.ID == "PW-1" && e.State == "sending" })
	r.send(map[string]any{"type": "cancel", "id": "PW-1"})
	res := r.next(func(e bEvent) bool { return e.ID == "PW-1" && e.Type == "result" })
	if res.Replay || res.Register != "local" {
		t.Fatalf("result: %+v", res)
	}
	t.Logf("cancel while sending: %+v", r.seen())
}

// How a client kit gets a deterministic busy from a real agent
// (NOTES-16a.md): a per-terminal cap of 1 and a provider nobody listens
// for, so the first sale waits and every other sale on that terminal is
// busy until it expires.
func TestBusyDeterministicForClientKits(t *testing.T) {
	_, base, _ := boundaryAgent(t, iyzicosim.Options{}, func(c *config.Config) {
		c.Iyzico.BaseURL = "http://127.0.0.1:9" // discard port: connection refused, nothing ever sent
		c.Agent.MaxQueuedPerTerminal = 1
	})
	h := named("kit")
	if code, _, ev := post(t, base, h, `{"type":"sale","id":"K1","terminal":"kasa-1","amount":"1.00","expires_in":600}`); code != http.StatusAccepted {
		t.Fatalf("first sale = %d %+v", code, ev)
	}
	for i := range 3 {
		code, hdr, ev := post(t, base, h, `{"type":"sale","id":"K2","terminal":"kasa-1","amount":"1.00"}`)
		if code != http.StatusServiceUnavailable || ev.code() != "busy" || ev.Error.RetryAfterMS != 1000 || hdr.Get("Retry-After") != "1" {
			t.Fatalf("try %d of the second sale = %d %v %+v", i, code, hdr, ev)
		}
	}
	// The other terminal is free.
	if code, _, ev := post(t, base, h, `{"type":"sale","id":"K3","terminal":"kasa-2","amount":"1.00"}`); code != http.StatusAccepted {
		t.Fatalf("kasa-2 = %d %+v", code, ev)
	}
}
