package wsapi

import (
	"context"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/agent/pairing"
	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/outbox"
)

// A paired register is its pairing's: a hello with its name is answered,
// one with another is register_mismatch and changes nothing.
func TestHelloBoundByToken(t *testing.T) {
	store := pairing.Open(t.TempDir())
	tok, err := store.Pair("kasa-3")
	if err != nil {
		t.Fatal(err)
	}
	_, ts, db := newServer(t, Options{Tokens: store, RequireTokenOnLoopback: true, AgentID: "shop-7"})
	c, _, _ := try(t, dialer("127.0.0.1"), wsURL(ts), bearer(tok))
	c.WriteJSON(map[string]string{"type": "hello", "register": "kasa-9"})
	if ev := read(t, c); ev.Error == nil || ev.Error.Code != protocol.CodeRegisterMismatch || ev.Error.Field != "register" {
		t.Fatalf("hello with another name: %+v", ev)
	}
	c.WriteJSON(map[string]string{"type": "hello", "register": "kasa-3"})
	var hello map[string]any
	c.ReadJSON(&hello)
	if hello["type"] != "hello" || hello["register"] != "kasa-3" || hello["agent"] != "shop-7" || hello["protocol"] != 1.0 || hello["last_seq"] != 0.0 {
		t.Fatalf("hello answer %v", hello)
	}
	c.WriteJSON(map[string]string{"type": "sale", "id": "R1", "terminal": "k", "amount": "1.00"})
	if ev := read(t, c); ev.Type != "accepted" || ev.Register != "kasa-3" {
		t.Fatalf("sale: %+v", ev)
	}
	if _, _, err := db.Get(context.Background(), "kasa-3", "R1"); err != nil {
		t.Fatalf("R1 not stored as kasa-3's: %v", err)
	}
}

// resume's default scope is the register's own requests; "all" is every
// register's. Ids repeat across registers, so a register must never see
// another's R1.
func TestResumeScope(t *testing.T) {
	ts, db := serve(t, Options{})
	ctx := context.Background()
	for _, reg := range []string{"kasa-1", "kasa-2", "kasa-1"} {
		db.Accept(ctx, outbox.NewRequest{Register: reg, ID: "R" + reg[5:] + string(rune('0'+len(reg))), Terminal: "k", Op: "sale", Body: []byte(reg)})
	}
	db.Accept(ctx, outbox.NewRequest{Register: "kasa-2", ID: "R1", Terminal: "k", Op: "sale", Body: []byte("a")})
	db.Accept(ctx, outbox.NewRequest{Register: "kasa-1", ID: "R1", Terminal: "k", Op: "sale", Body: []byte("b")})
	c := dial(t, ts, nil)
	c.WriteJSON(map[string]string{"type": "hello", "register": "kasa-1"})
	var hello map[string]any
	c.ReadJSON(&hello)
	c.WriteJSON(map[string]any{"type": "resume", "since": 0})
	if ev := read(t, c); ev.Type != "resumed" || ev.Scope != protocol.ScopeRegister {
		t.Fatalf("resumed: %+v", ev)
	}
	ev := read(t, c)
	if ev.Register != "kasa-1" || ev.Seq != 1 {
		t.Fatalf("first resumed event %+v", ev)
	}
	ev = read(t, c)
	if ev.Register != "kasa-1" || ev.ID != "R1" || ev.Seq != 4 {
		t.Fatalf("second resumed event %+v, want kasa-1's R1 at 4, never kasa-2's R1 at 3", ev)
	}
	m := dial(t, ts, nil)
	m.WriteJSON(map[string]any{"type": "resume", "since": 0, "scope": "all"})
	if ev := read(t, m); ev.Scope != protocol.ScopeAll {
		t.Fatalf("resumed: %+v", ev)
	}
	for want := int64(1); want <= 4; want++ {
		if ev := read(t, m); ev.Seq != want || ev.Register == "" {
			t.Fatalf("scope all: %+v, want seq %d", ev, want)
		}
	}
}

// A refused cancel leaves the connection following the request: the
// result still reaches it (issue 16's repro, seq 50 then nothing).
func TestRefusedCancelKeepsFollowing(t *testing.T) {
	ts, db := serve(t, Options{})
	ctx := context.Background()
	c := dial(t, ts, nil)
	c.WriteJSON(map[string]string{"type": "sale", "id": "S1", "terminal": "k", "amount": "1.00"})
	if ev := read(t, c); ev.Type != "accepted" {
		t.Fatalf("%+v", ev)
	}
	r, _, _ := db.Get(ctx, "", "S1")
	if _, err := db.Begin(ctx, r); err != nil {
		t.Fatal(err)
	}
	if ev := read(t, c); ev.State != "sending" {
		t.Fatalf("%+v", ev)
	}
	c.WriteJSON(map[string]string{"type": "cancel", "id": "S1"})
	if ev := read(t, c); ev.Error == nil || ev.Error.Code != protocol.CodeNotCancellable {
		t.Fatalf("cancel of a sending sale: %+v", ev)
	}
	// Another connection of the same register queries it: it follows too.
	q := dial(t, ts, nil)
	q.WriteJSON(map[string]string{"type": "query", "id": "S1"})
	if ev := read(t, q); !ev.Replay || ev.State != "sending" {
		t.Fatalf("query: %+v", ev)
	}
	if _, err := db.Finish(ctx, r, outbox.Approved, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	for name, conn := range map[string]*websocket.Conn{"sender": c, "querier": q} {
		if ev := read(t, conn); ev.Type != "result" || ev.Status != "approved" {
			t.Fatalf("%s after the refused cancel: %+v", name, ev)
		}
	}
}
