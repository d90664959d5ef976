package e2e

import (
	"fmt"
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
	const terminals, registers, perRegister, kills = 4, 4, 60, 6
	shop := newCrashShop(t, 1, []string{"--devices", devices(terminals)}, func(dir, simURL string) string {
		return writeConfig(t, dir, simURL, terminals, "")
	})
	for g := range registers {
		r := shop.register()
		for i := range perRegister {
			amount := fmt.Sprintf("%d.%02d", 1+shop.rng.IntN(500), shop.rng.IntN(100))
			r.add(fmt.Sprintf("REG%d-%04d", g, i), map[string]any{
				"type": "sale", "terminal": fmt.Sprint("kasa-", 1+(g+i)%terminals), "amount": amount, "expires_in": 600})
		}
	}
	shop.run(kills, 120*time.Second)
	approved, statuses := shop.approvedSales()

	charges := map[string]int{}
	sales := 0
	for _, e := range ledger(t, shop.sim.addr) {
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
