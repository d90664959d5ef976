package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestCrashRecoveryMixed is TestCrashRecovery with a whole iyzico shop
// day: sales, refunds, voids, baskets paid in parts (partial_start, two
// partial_add, partial_complete) and ends of day, from several registers
// at once, with faults on and the agent SIGKILLed at random moments. It
// checks that every accepted command reaches a final result at its
// register, and that the provider's ledger holds exactly one movement of
// money per approved sale, card part, refund and void — none for anything
// else, and never two for one reference.
func TestCrashRecoveryMixed(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs processes")
	}
	const terminals, registers, baskets, kills = 4, 4, 24, 6
	shop := newCrashShop(t, 2, []string{"--devices", devices(terminals)}, func(dir, simURL string) string {
		return writeConfig(t, dir, simURL, terminals, "")
	})
	rng := shop.rng

	// amount avoids the simulator's decline rule (minor part 51): every
	// sale here should be approved, so refunds and voids have something
	// to act on.
	declines := func(minor int) bool { return minor%100 == 51 }
	amount := func(minor int) string {
		if declines(minor) {
			panic("amount would be declined")
		}
		return fmt.Sprintf("%d.%02d", minor/100, minor%100)
	}
	for g := range registers {
		r := shop.register()
		term := fmt.Sprint("kasa-", 1+g%terminals) // one register per terminal: its day is its own
		for i := range baskets {
			id := fmt.Sprintf("M%d-%03d", g, i)
			minor := 200 + rng.IntN(50000)
			for declines(minor) || declines(minor/2) {
				minor++
			}
			switch i % 6 {
			case 0, 1:
				r.add(id, map[string]any{"type": "sale", "terminal": term, "amount": amount(minor), "expires_in": 600})
			case 2:
				r.add(id, map[string]any{"type": "sale", "terminal": term, "amount": amount(minor), "expires_in": 600,
					"items": []map[string]any{{"name": "Çay", "quantity": "1", "amount": amount(minor), "vat_rate": 10}}})
				r.addAfter(id, id+"-R", map[string]any{"type": "refund", "terminal": term, "original_id": id, "amount": amount(minor / 2)})
			case 3:
				r.add(id, map[string]any{"type": "sale", "terminal": term, "amount": amount(minor), "expires_in": 600})
				r.addAfter(id, id+"-V", map[string]any{"type": "void", "terminal": term, "original_id": id})
			case 4:
				part := 100 + rng.IntN(minor-150)
				for declines(part) || declines(minor-part) {
					part++
				}
				r.add(id, map[string]any{"type": "partial_start", "terminal": term, "amount": amount(minor)})
				r.addAfter(id, id+"-1", map[string]any{"type": "partial_add", "terminal": term, "original_id": id, "amount": amount(part)})
				r.addAfter(id+"-1", id+"-2", map[string]any{"type": "partial_add", "terminal": term, "original_id": id, "amount": amount(minor - part)})
				r.addAfter(id+"-2", id+"-C", map[string]any{"type": "partial_complete", "terminal": term, "original_id": id})
			case 5:
				// After everything before it, so the day's voids come first.
				r.addAfter(r.order[len(r.order)-1], id, map[string]any{"type": "end_of_day", "terminal": term, "summary": i%12 == 5})
			}
		}
	}

	// Besides the random faults: a few device timeouts answered after the
	// money moved (iyzico 380103), the case where only a query can tell.
	setFaults(t, shop.sim.addr, map[string]any{"latency": 2 * time.Millisecond, "fail_rate": 0.05, "rate_limit_rate": 0.05, "drop_rate": 0.05,
		"error": map[string]any{"code": "380103", "group": "TIMEOUT_ERROR", "after_record": true, "times": 8}})
	shop.run(kills, 180*time.Second)

	resp, err := http.Get(shop.sim.addr + "/_sim/faults")
	if err != nil {
		t.Fatal(err)
	}
	var left struct {
		Error *struct{ Times int } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&left)
	resp.Body.Close()
	if left.Error != nil {
		t.Errorf("only %d of 8 injected device timeouts were used", 8-left.Error.Times)
	}

	// What the registers were told, by kind.
	type told struct{ typ, status, paymentID string }
	results := map[string]told{}
	statuses := map[string]int{}
	for _, r := range shop.regs {
		for id, ev := range r.results {
			var cmd struct {
				Type string `json:"type"`
			}
			json.Unmarshal(r.cmds[id], &cmd)
			results[id] = told{cmd.Type, ev.Status, ev.Payment.PaymentID}
			if ev.Status != "approved" && ev.Error != nil {
				t.Logf("%s %s: %s %s", id, ev.Status, ev.Error.Code, ev.Error.Message)
			}
			statuses[cmd.Type+"/"+ev.Status]++
		}
	}
	t.Logf("results: %v", statuses)

	charged := map[string]bool{} // payment ids the registers were told were charged
	want := map[string]int{}     // approved movements per ledger op
	for id, r := range results {
		if r.status != "approved" {
			continue
		}
		switch r.typ {
		case "sale", "partial_add":
			if r.paymentID == "" {
				t.Errorf("%s approved without a payment id", id)
			}
			charged[r.paymentID] = true
			want["sale"]++
		case "refund":
			want["refund"]++
		case "void":
			want["void"]++
		case "partial_complete":
			base := id[:len(id)-2]
			if results[base+"-1"].status != "approved" || results[base+"-2"].status != "approved" {
				t.Errorf("%s completed without both parts approved", id)
			}
		}
	}
	got := map[string]int{}
	perRef := map[string]int{}
	for _, e := range ledger(t, shop.sim.addr) {
		got[e.Op]++
		perRef[e.Op+" "+e.Reference]++
		if perRef[e.Op+" "+e.Reference] > 1 {
			t.Errorf("%s with reference %s recorded %d times", e.Op, e.Reference, perRef[e.Op+" "+e.Reference])
		}
		if e.Op == "sale" && !charged[e.PaymentID] {
			t.Errorf("ledger charge %s (ref %s) was never reported approved to a register", e.PaymentID, e.Reference)
		}
	}
	for _, op := range []string{"sale", "refund", "void"} {
		if got[op] != want[op] {
			t.Errorf("ledger has %d %s movements, registers saw %d approved", got[op], op, want[op])
		}
	}
	for _, k := range []string{"sale/approved", "refund/approved", "void/approved", "partial_complete/approved", "end_of_day/approved"} {
		if statuses[k] == 0 {
			t.Errorf("no %s: the test did not exercise it", k)
		}
	}
}
