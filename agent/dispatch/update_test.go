package dispatch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/outbox"
)

// waitState waits until id is in state st, on the store's change signal.
func (g *rig) waitState(t *testing.T, id string, st outbox.State) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		ch := g.store.Changed()
		if r, _, err := g.store.Get(context.Background(), "", id); err == nil && r.State == st {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			r, _, _ := g.store.Get(context.Background(), "", id)
			t.Fatalf("%s not %s after 10s: %+v", id, st, r)
		}
	}
}

func TestUpdateAddsTerminal(t *testing.T) {
	p := &script{send: []func(bridge.Request) (bridge.Result, error){approved, approved}}
	provs := map[string]bridge.Provider{"test": p}
	g := start(t, "", provs, "k1")
	// Accepted for a terminal the dispatcher does not know yet: it waits.
	g.accept(t, `{"type":"sale","id":"R1","terminal":"k2","amount":"1.00"}`, time.Time{})
	g.accept(t, `{"type":"sale","id":"R2","terminal":"k1","amount":"1.00"}`, time.Time{})
	g.waitFinal(t, "R2")
	if r, _, _ := g.store.Get(context.Background(), "", "R1"); r.State != outbox.Queued {
		t.Fatalf("R1 %s before its terminal exists", r.State)
	}
	err := g.disp.Update(provs, []bridge.Terminal{{Name: "k1", Provider: "test"}, {Name: "k2", Provider: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if ev := g.waitFinal(t, "R1"); ev.State != outbox.Approved {
		t.Fatalf("R1 %s", ev.State)
	}
}

// A terminal moved to another provider (new credentials, say) while a
// call is on the wire: the old call finishes and is recorded, and the new
// worker starts only then, so the request in flight is never queried or
// sent again by it.
func TestUpdateChangedTerminalWaitsForCallInFlight(t *testing.T) {
	block := make(chan struct{})
	oldP := &script{send: []func(bridge.Request) (bridge.Result, error){approved}, block: block}
	newP := &script{send: []func(bridge.Request) (bridge.Result, error){approved}}
	g := start(t, "", map[string]bridge.Provider{"test": oldP}, "k1")
	g.accept(t, sale1, time.Time{})
	g.waitState(t, "R1", outbox.Sending)

	if err := g.disp.Update(map[string]bridge.Provider{"new": newP}, []bridge.Terminal{{Name: "k1", Provider: "new"}}); err != nil {
		t.Fatal(err)
	}
	g.accept(t, `{"type":"sale","id":"R2","terminal":"k1","amount":"2.00"}`, time.Time{})
	close(block)
	if ev := g.waitFinal(t, "R1"); ev.State != outbox.Approved {
		t.Fatalf("R1 %s", ev.State)
	}
	if ev := g.waitFinal(t, "R2"); ev.State != outbox.Approved {
		t.Fatalf("R2 %s", ev.State)
	}
	if c := oldP.Calls(); !eq(c, []string{"send R1"}) {
		t.Fatalf("old provider calls %v", c)
	}
	if c := newP.Calls(); !eq(c, []string{"send R2"}) {
		t.Fatalf("new provider calls %v, want only R2: R1 was the old worker's", c)
	}
}

func TestUpdateRejectsUnknownProvider(t *testing.T) {
	g := start(t, "", map[string]bridge.Provider{"test": &script{}}, "k1")
	err := g.disp.Update(map[string]bridge.Provider{"test": &script{}}, []bridge.Terminal{{Name: "k2", Provider: "nope"}})
	if err == nil || !strings.Contains(err.Error(), `no provider "nope"`) {
		t.Fatalf("err %v", err)
	}
}
