package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCrashRecovery runs the agent against tezgah-sim with faults on,
// SIGKILLs it at random points during a stream of sales from several
// registers, restarts it each time, and checks the promises: every
// accepted request reaches a final state, every result reaches its
// register through resume, and the provider's ledger holds at most one
// charge per request — exactly one for each approved sale and none for
// any other.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs processes")
	}
	agentBin, simBin := build(t)
	dir := t.TempDir()
	logf := processLog(t, dir)

	const terminals, registers, perRegister, kills = 4, 4, 60, 6
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	sim := start(t, simListening, logf, simBin, "--listen", "127.0.0.1:0", "--devices", devices(terminals),
		"--seed", fmt.Sprint(seed), "--latency", "2ms", "--fail-rate", "0.05", "--rate-limit-rate", "0.05", "--drop-rate", "0.05")
	cfg := writeConfig(t, dir, sim.addr, terminals, "")

	var url atomic.Value
	agent := start(t, agentListening, logf, agentBin, "run", "--config", cfg)
	url.Store(agent.addr)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var regs []*register
	var wg sync.WaitGroup
	for g := range registers {
		r := newRegister(t, func() string { return url.Load().(string) })
		for i := range perRegister {
			amount := fmt.Sprintf("%d.%02d", 1+rng.IntN(500), rng.IntN(100))
			r.add(fmt.Sprintf("REG%d-%04d", g, i), map[string]any{
				"type": "sale", "terminal": fmt.Sprint("kasa-", 1+(g+i)%terminals), "amount": amount, "expires_in": 600})
		}
		regs = append(regs, r)
		wg.Add(1)
		go func() { defer wg.Done(); r.run(ctx) }()
	}

	for k := range kills {
		// Kill at a random moment: how far the stream got is up to chance.
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		agent.kill()
		t.Logf("kill %d: agent SIGKILLed", k+1)
		agent = start(t, agentListening, logf, agentBin, "run", "--config", cfg)
		url.Store(agent.addr)
	}

	waitFor(t, 120*time.Second, "every sale to reach a final result at its register", func() bool {
		for _, r := range regs {
			if !r.done() {
				return false
			}
		}
		return true
	})
	cancel()
	wg.Wait()

	approved := map[string]string{} // payment id -> request id
	statuses := map[string]int{}
	for _, r := range regs {
		for _, p := range r.problems {
			t.Error(p)
		}
		for id, ev := range r.results {
			statuses[ev.Status]++
			if ev.Status == "approved" {
				if ev.Payment.PaymentID == "" {
					t.Errorf("%s approved without a payment id", id)
				}
				approved[ev.Payment.PaymentID] = id
			}
		}
	}
	t.Logf("results: %v", statuses)

	charges := map[string]int{}
	sales := 0
	for _, e := range ledger(t, sim.addr) {
		if e.Op != "sale" {
			continue
		}
		sales++
		charges[e.Reference]++
		if charges[e.Reference] > 1 {
			t.Errorf("reference %s charged %d times", e.Reference, charges[e.Reference])
		}
		if _, ok := approved[e.PaymentID]; !ok {
			t.Errorf("ledger charge %s (ref %s) was never reported approved to a register", e.PaymentID, e.Reference)
		}
	}
	if sales != len(approved) {
		t.Errorf("ledger has %d sale charges, registers saw %d approved sales", sales, len(approved))
	}
	if statuses["approved"] == 0 {
		t.Error("no sale was approved: the test did not exercise anything")
	}
}
