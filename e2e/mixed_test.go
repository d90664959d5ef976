package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Paywall terminals of the mixed shop, on tezgah-sim's /paywall.
var paywallTerminals = []string{"8ff33705-57c7-42dc-8341-a0053e7f3009", "38e895c3-1a9a-4b73-8816-8557d1d031d6"}

// writeMixedConfig is writeConfig plus a [paywall] table and one Paywall
// terminal per id, named after the iyzico ones (kasa-N+1, ...). The first
// is async, the second sync.
func writeMixedConfig(t *testing.T, dir, simURL string, iyzicoTerminals int) string {
	t.Helper()
	table := fmt.Sprintf("[paywall]\nbase_url = %q\napi_key = \"demo-paywall-key\"\napi_client = \"demo-paywall-client\"\npoll_interval = \"100ms\"\ntimeout = \"5s\"\n", simURL+"/paywall")
	path := writeConfig(t, dir, simURL, iyzicoTerminals, table)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, id := range paywallTerminals {
		mode := "async"
		if i%2 == 1 {
			mode = "sync"
		}
		fmt.Fprintf(f, "\n[[terminal]]\nname = \"kasa-%d\"\nprovider = \"paywall\"\ndevice_id = %q\nmode = %q\n", iyzicoTerminals+1+i, id, mode)
	}
	return path
}

type paywallEntry struct {
	Op                 string `json:"op"`
	MerchantUniqueCode string `json:"merchantUniqueCode"`
	PaymentRequestID   string `json:"paymentRequestId"`
	Amount             int64  `json:"amount"`
}

func paywallLedger(t *testing.T, simURL string) []paywallEntry {
	t.Helper()
	resp, err := http.Get(simURL + "/paywall/_sim/ledger")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l []paywallEntry
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestMixedShopCrashRecovery is TestCrashRecovery for a shop with iyzico
// and Paywall terminals at once (async and sync): SIGKILLs at random
// moments, faults on both simulators, and both ledgers checked — every
// accepted sale reaches a final result at its register, no sale is
// charged twice, and every charge was reported approved.
func TestMixedShopCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs processes")
	}
	const iyzicoTerminals, registers, perRegister, kills = 2, 4, 40, 5
	terminals := iyzicoTerminals + len(paywallTerminals)
	shop := newCrashShop(t, 2, []string{"--devices", devices(iyzicoTerminals),
		"--paywall-terminals", strings.Join(paywallTerminals, ","), "--paywall-card-time", "30ms"},
		func(dir, simURL string) string { return writeMixedConfig(t, dir, simURL, iyzicoTerminals) })
	for g := range registers {
		r := shop.register()
		for i := range perRegister {
			amount := fmt.Sprintf("%d.%02d", 1+shop.rng.IntN(500), shop.rng.IntN(100))
			r.add(fmt.Sprintf("MIX%d-%04d", g, i), map[string]any{
				"type": "sale", "terminal": fmt.Sprint("kasa-", 1+(g+i)%terminals), "amount": amount, "expires_in": 600})
		}
	}
	shop.run(kills, 100*time.Second)
	approved, _ := shop.approvedSales()

	sales := 0
	charges := map[string]int{}
	for _, e := range ledger(t, shop.sim.addr) {
		if e.Op != "sale" {
			continue
		}
		sales++
		if charges[e.Reference]++; charges[e.Reference] > 1 {
			t.Errorf("iyzico reference %s charged %d times", e.Reference, charges[e.Reference])
		}
		if _, ok := approved[e.PaymentID]; !ok {
			t.Errorf("iyzico charge %s (ref %s) was never reported approved", e.PaymentID, e.Reference)
		}
	}
	pwSales := 0
	for _, e := range paywallLedger(t, shop.sim.addr) {
		if e.Op != "sale" {
			continue
		}
		pwSales++
		if charges[e.MerchantUniqueCode]++; charges[e.MerchantUniqueCode] > 1 {
			t.Errorf("Paywall MerchantUniqueCode %s charged %d times", e.MerchantUniqueCode, charges[e.MerchantUniqueCode])
		}
		if _, ok := approved[e.PaymentRequestID]; !ok {
			t.Errorf("Paywall charge %s (code %s) was never reported approved", e.PaymentRequestID, e.MerchantUniqueCode)
		}
	}
	if sales+pwSales != len(approved) {
		t.Errorf("ledgers have %d iyzico + %d Paywall sale charges, registers saw %d approved sales", sales, pwSales, len(approved))
	}
	if sales == 0 || pwSales == 0 {
		t.Errorf("a provider had no approved sale (iyzico %d, Paywall %d): the test did not exercise it", sales, pwSales)
	}
}

// TestSlowPaywallDoesNotDelayIyzico: while a sale is held up on a slow
// Paywall terminal (every PhysicalAPI answer takes seconds), sales on an
// iyzico terminal of the same agent all finish before it. Measured by the
// order of events (seq), not by a clock: were the terminals served one
// after the other, the iyzico results would come after the Paywall one.
func TestSlowPaywallDoesNotDelayIyzico(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	agentBin, simBin := build(t)
	dir := t.TempDir()
	logf := processLog(t, dir)
	sim := start(t, simListening, logf, simBin, "--listen", "127.0.0.1:0", "--devices", devices(1),
		"--paywall-terminals", strings.Join(paywallTerminals, ","))
	setFaults(t, sim.addr+"/paywall", map[string]any{"latency": int64(4 * time.Second)})
	cfg := writeMixedConfig(t, dir, sim.addr, 1)
	agent := start(t, agentListening, logf, agentBin, "run", "--config", cfg)

	c, _, err := websocket.DefaultDialer.Dial(agent.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	next := func(what string, match func(event) bool) event {
		t.Helper()
		for {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			var ev event
			if err := c.ReadJSON(&ev); err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
			if match(ev) {
				return ev
			}
		}
	}
	c.WriteJSON(map[string]any{"type": "sale", "id": "SLOW-PW", "terminal": "kasa-2", "amount": "10.00"})
	next("the Paywall sale to be sending", func(ev event) bool { return ev.ID == "SLOW-PW" && ev.Type == "state" && ev.State == "sending" })

	const fast = 10
	for i := range fast {
		c.WriteJSON(map[string]any{"type": "sale", "id": fmt.Sprintf("FAST-%02d", i), "terminal": "kasa-1", "amount": fmt.Sprintf("%d.00", 1+i)})
	}
	var lastFast int64
	for n := 0; n < fast; {
		ev := next("results", func(ev event) bool { return ev.Type == "result" })
		if ev.Status != "approved" {
			t.Errorf("%s: %s", ev.ID, ev.Status)
		}
		if ev.ID == "SLOW-PW" {
			t.Fatalf("the Paywall sale finished after %d of %d iyzico sales: the iyzico terminal waited for it", n, fast)
		}
		n++
		lastFast = ev.Seq
	}
	pw := next("the Paywall result", func(ev event) bool { return ev.ID == "SLOW-PW" && ev.Type == "result" })
	if pw.Status != "approved" || pw.Seq < lastFast {
		t.Fatalf("Paywall result %+v after iyzico seq %d", pw, lastFast)
	}
	t.Logf("%d iyzico sales done by seq %d while the Paywall sale was held up; it finished at seq %d", fast, lastFast, pw.Seq)
}
