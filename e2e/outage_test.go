package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProviderOutage: with the provider down, sales keep being accepted
// and queued; sales whose deadline passes are expired and never sent;
// when the provider returns, the rest drain in order per terminal; and a
// register that reconnected meanwhile gets every result through resume.
func TestProviderOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("outage test runs processes")
	}
	agentBin, simBin := build(t)
	dir := t.TempDir()
	logf := processLog(t, dir)

	sim := start(t, simListening, logf, simBin, "--listen", "127.0.0.1:0", "--devices", devices(2))
	simAddr := strings.TrimPrefix(sim.addr, "http://")
	cfg := writeConfig(t, dir, sim.addr, 2, "")
	agent := start(t, agentListening, logf, agentBin, "run", "--config", cfg)

	// The provider goes away (connections refused).
	sim.kill()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := newRegister(t, func() string { return agent.addr })
	var order []string // acceptance order of the long-lived sales, per terminal
	for i := range 10 {
		term := fmt.Sprint("kasa-", 1+i%2)
		short := fmt.Sprintf("SHORT-%02d", i)
		long := fmt.Sprintf("LONG-%02d", i)
		reg.add(short, map[string]any{"type": "sale", "terminal": term, "amount": "10.00", "expires_in": 1})
		reg.add(long, map[string]any{"type": "sale", "terminal": term, "amount": fmt.Sprintf("%d.00", 20+i), "expires_in": 600})
		order = append(order, long)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); reg.run(ctx) }()

	waitFor(t, 20*time.Second, "all sales accepted while the provider is down", func() bool {
		a, _ := reg.counts()
		return a == len(reg.cmds)
	})
	waitFor(t, 20*time.Second, "short sales to expire", func() bool {
		reg.mu.Lock()
		defer reg.mu.Unlock()
		for id, ev := range reg.results {
			if strings.HasPrefix(id, "SHORT") && ev.Status != "expired" {
				t.Fatalf("%s: %s, want expired", id, ev.Status)
			}
		}
		n := 0
		for id := range reg.results {
			if strings.HasPrefix(id, "SHORT") {
				n++
			}
		}
		return n == 10
	})
	reg.mu.Lock()
	for id, ev := range reg.results {
		if strings.HasPrefix(id, "LONG") {
			t.Errorf("%s finished (%s) while the provider was down", id, ev.Status)
		}
	}
	reg.mu.Unlock()

	// The register drops off while the provider comes back.
	cancel()
	wg.Wait()
	sim = start(t, simListening, logf, simBin, "--listen", simAddr, "--devices", devices(2))

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	wg.Add(1)
	go func() { defer wg.Done(); reg.run(ctx) }()
	waitFor(t, 60*time.Second, "every sale to reach a result through resume", reg.done)
	cancel()
	wg.Wait()

	for _, p := range reg.problems {
		t.Error(p)
	}
	// Drained in order per terminal: results follow acceptance order.
	byTerm := map[string][]string{}
	for i, id := range order {
		term := fmt.Sprint("kasa-", 1+i%2)
		byTerm[term] = append(byTerm[term], id)
		if ev := reg.results[id]; ev.Status != "approved" {
			t.Errorf("%s: %s, want approved", id, ev.Status)
		}
	}
	for term, ids := range byTerm {
		sort.Slice(ids, func(a, b int) bool { return reg.acceptSeq[ids[a]] < reg.acceptSeq[ids[b]] })
		for k := 1; k < len(ids); k++ {
			if reg.acceptSeq[ids[k]] == 0 || reg.results[ids[k]].Seq < reg.results[ids[k-1]].Seq {
				t.Errorf("%s: %s (accepted seq %d) finished before %s (accepted seq %d)", term,
					ids[k], reg.acceptSeq[ids[k]], ids[k-1], reg.acceptSeq[ids[k-1]])
			}
		}
	}
	charges := 0
	for _, e := range ledger(t, sim.addr) {
		if e.Op == "sale" {
			charges++
		}
	}
	if charges != len(order) {
		t.Errorf("simulator charged %d sales, want %d: expired sales must never be sent", charges, len(order))
	}
}
