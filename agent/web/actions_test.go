package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/web"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/internal/agenttest"
)

// simAgent runs the agent against an iyzico simulator of the test's own,
// so the test can inject the provider's failures.
func simAgent(t *testing.T, opts iyzicosim.Options, timeout time.Duration) (*demo, *iyzicosim.Server) {
	t.Helper()
	cfg := config.Demo()
	sim := agenttest.IyzicoOnly(t, cfg, opts)
	cfg.Iyzico.Timeout.Duration = timeout
	return startAgent(t, cfg, false), sim
}

func (d *demo) status(t *testing.T) web.Snapshot {
	t.Helper()
	code, body := d.get(t, "/api/status")
	if code != 200 {
		t.Fatalf("/api/status: %d %s", code, body)
	}
	var s web.Snapshot
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// act posts a support action the way the page does.
func (d *demo) act(t *testing.T, action, id string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", d.base+"/api/"+action, strings.NewReader(`{"id":"`+id+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", d.base)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestCancelQueuedFromThePage(t *testing.T) {
	// The provider rate-limits for an hour: the sale waits, certainly
	// unsent, and every iyzico terminal is paused.
	d, sim := simAgent(t, iyzicosim.Options{RetryAfter: 3600}, 5*time.Second)
	sim.SetFaults(iyzicosim.Faults{RateLimitRate: 1})
	reg := d.dial(t)
	reg.send(map[string]string{"type": "sale", "id": "C-1", "terminal": "kasa-1", "amount": "75.00"})
	reg.until("accepted", "C-1")

	var snap web.Snapshot
	poll(t, "the sale to wait, cancellable, with iyzico paused", func() bool {
		snap = d.status(t)
		return len(snap.Queued) == 1 && snap.Queued[0].ID == "C-1" && snap.Queued[0].Cancellable && snap.Queued[0].Reason == "rate_limited" &&
			len(snap.Providers) == 1 && snap.Providers[0].State == "paused" && snap.Terminals[0].State == "paused"
	}, func() string { b, _ := json.MarshalIndent(snap, "", "  "); return string(b) })
	if q := snap.Queued[0]; q.Amount != "75.00" || q.Currency != "TRY" || q.Reason != "rate_limited" {
		t.Errorf("queued row = %+v", q)
	}
	if snap.Outbox.Pending != 1 || snap.Terminals[0].Queue != 1 {
		t.Errorf("backlog = %+v, terminal %+v", snap.Outbox, snap.Terminals[0])
	}

	if code, res := d.act(t, "cancel", "C-1"); code != 200 || res["ok"] != true {
		t.Fatalf("cancel: %d %v", code, res)
	}
	if ev := reg.until("result", "C-1"); ev.Status != "cancelled" {
		t.Fatalf("register got %+v, want cancelled", ev)
	}
	if code, res := d.act(t, "cancel", "C-1"); code != 409 || res["error"] != "not_cancellable" {
		t.Errorf("second cancel: %d %v, want 409 not_cancellable", code, res)
	}
	if code, res := d.act(t, "reconcile", "C-1"); code != 409 || res["error"] != "not_waiting" {
		t.Errorf("reconcile of a final request: %d %v, want 409 not_waiting", code, res)
	}
	if code, res := d.act(t, "cancel", "nope"); code != 404 || res["error"] != "not_found" {
		t.Errorf("cancel of an unknown id: %d %v, want 404 not_found", code, res)
	}
	requestLines(t, d.logs.String(), "C-1", "kasa-1", "accepted", "send did not finish", "cancelled before it was sent")
	if logs := d.logs.String(); !strings.Contains(logs, `msg="support action" action=cancel id=C-1 remote=127.0.0.1:`) {
		t.Errorf("the cancel is not in the log:\n%s", logs)
	}
	if n := len(sim.Ledger()); n != 0 {
		t.Errorf("provider ledger has %d entries; a cancelled sale must never reach it", n)
	}
}

func TestReconcileNowFromThePage(t *testing.T) {
	// The provider stops answering: the sale's outcome is unknown and the
	// queries back off further and further.
	d, sim := simAgent(t, iyzicosim.Options{}, 150*time.Millisecond)
	sim.SetFaults(iyzicosim.Faults{Hang: true})
	reg := d.dial(t)
	reg.send(map[string]string{"type": "sale", "id": "U-1", "terminal": "kasa-2", "amount": "12.34"})
	reg.until("accepted", "U-1")

	var snap web.Snapshot
	var next time.Time
	poll(t, "the sale to be unknown, next query at least 2s away", func() bool {
		snap = d.status(t)
		if len(snap.Unknown) != 1 || snap.Unknown[0].NextAt == "" {
			return false
		}
		next, _ = time.Parse(time.RFC3339, snap.Unknown[0].NextAt)
		return time.Until(next) >= 2*time.Second
	}, func() string { b, _ := json.MarshalIndent(snap, "", "  "); return string(b) })
	if p := snap.Providers[0]; p.State != "failing" || p.LastError == "" || p.Failures == 0 {
		t.Errorf("provider = %+v, want failing with its last error", p)
	}
	if snap.Terminals[1].State != "reconciling" {
		t.Errorf("kasa-2 state = %q, want reconciling", snap.Terminals[1].State)
	}

	sim.SetFaults(iyzicosim.Faults{})
	if code, res := d.act(t, "reconcile", "U-1"); code != 200 || res["ok"] != true {
		t.Fatalf("reconcile: %d %v", code, res)
	}
	ev := reg.until("result", "U-1")
	if ev.Status != "approved" {
		t.Fatalf("register got %+v, want approved", ev)
	}
	d.waitLog(t, "msg=finished id=U-1")
	requestLines(t, d.logs.String(), "U-1", "kasa-2", "accepted", "send did not finish", "query failed; will try again", "provider never received the request: sending again", "finished")
	if logs := d.logs.String(); !strings.Contains(logs, `msg="support action" action=reconcile id=U-1`) {
		t.Errorf("the reconcile is not in the log")
	}
	if !time.Now().Before(next) {
		t.Errorf("result came only at the scheduled query (%v); reconcile now did not hurry it", next)
	}
	m := scrape(t, d)
	for _, name := range []string{
		`tezgah_retries_total{provider="iyzico",reason="timeout",terminal="kasa-2"}`,
		`tezgah_retries_total{provider="iyzico",reason="query_timeout",terminal="kasa-2"}`,
		`tezgah_reconciliations_total{outcome="not_found",provider="iyzico"}`,
		`tezgah_provider_call_duration_seconds_count{call="query",outcome="error",provider="iyzico"}`,
		`tezgah_provider_call_duration_seconds_count{call="send",outcome="ok",provider="iyzico"}`,
	} {
		if m[name] < 1 {
			t.Errorf("%s = %v, want at least 1", name, m[name])
		}
	}
	if got := sim.ChargesByReference(); len(got) != 1 {
		t.Errorf("charges by reference = %v; want exactly one", got)
	}
	for ref, n := range sim.ChargesByReference() {
		if n != 1 {
			t.Errorf("reference %s charged %d times", ref, n)
		}
	}
}
