package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// crashShop is what the SIGKILL crash tests share: tezgah-sim with random
// faults on, the agent run from a config pointing at it, registers that
// follow the agent's address across restarts, and a seeded random source
// for the test's amounts and the moments of the kills.
type crashShop struct {
	t        *testing.T
	agentBin string
	logf     io.Writer
	cfg      string
	sim      *proc
	agent    *proc
	url      atomic.Value // the running agent's address
	rng      *rand.Rand
	regs     []*register
}

// newCrashShop starts tezgah-sim (its fault flags, then simArgs) and the
// agent with the config that writeCfg writes for the simulator's address.
// stream tells the tests' random sequences apart for one seed.
func newCrashShop(t *testing.T, stream uint64, simArgs []string, writeCfg func(dir, simURL string) string) *crashShop {
	t.Helper()
	agentBin, simBin := build(t)
	dir := t.TempDir()
	s := &crashShop{t: t, agentBin: agentBin, logf: processLog(t, dir)}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	s.rng = rand.New(rand.NewPCG(seed, stream))
	args := append([]string{"--listen", "127.0.0.1:0", "--seed", fmt.Sprint(seed),
		"--latency", "2ms", "--fail-rate", "0.05", "--rate-limit-rate", "0.05", "--drop-rate", "0.05"}, simArgs...)
	s.sim = start(t, simListening, s.logf, simBin, args...)
	s.cfg = writeCfg(dir, s.sim.addr)
	s.startAgent()
	return s
}

func (s *crashShop) startAgent() {
	s.agent = start(s.t, agentListening, s.logf, s.agentBin, "run", "--config", s.cfg)
	s.url.Store(s.agent.addr)
}

// register adds a register; it starts sending when run is called.
func (s *crashShop) register() *register {
	r := newRegister(s.t, func() string { return s.url.Load().(string) })
	r.name = fmt.Sprintf("kasa-pc-%d", len(s.regs)+1)
	s.regs = append(s.regs, r)
	return r
}

// run starts the registers, SIGKILLs the agent kills times at random
// moments (restarting it each time), waits up to d for every register to
// hold a result for every command it sent, and reports what the registers
// saw go wrong — also when the wait times out.
func (s *crashShop) run(kills int, d time.Duration) {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait() // the registers write their problems until they stop
		for _, r := range s.regs {
			for _, p := range r.problems {
				s.t.Error(p)
			}
		}
	}()
	for _, r := range s.regs {
		wg.Go(func() { r.run(ctx) })
	}
	for k := range kills {
		// A random moment: how far the stream got is up to chance.
		time.Sleep(time.Duration(50+s.rng.IntN(400)) * time.Millisecond)
		s.agent.kill()
		s.t.Logf("kill %d: agent SIGKILLed", k+1)
		s.startAgent()
	}
	waitFor(s.t, d, "every command to reach a final result at its register", func() bool {
		for _, r := range s.regs {
			if !r.done() {
				return false
			}
		}
		return true
	})
}

// approvedSales returns, from the registers' results, the payment id of
// every approved sale (mapped to its request id) and the count of each
// status; an approved sale without a payment id is an error.
func (s *crashShop) approvedSales() (approved map[string]string, statuses map[string]int) {
	approved, statuses = map[string]string{}, map[string]int{}
	for _, r := range s.regs {
		for id, ev := range r.results {
			statuses[ev.Status]++
			if ev.Status == "approved" {
				if ev.Payment.PaymentID == "" {
					s.t.Errorf("%s approved without a payment id", id)
				}
				approved[ev.Payment.PaymentID] = id
			}
		}
	}
	s.t.Logf("results: %v", statuses)
	return approved, statuses
}
