package web_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/wsapi"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/internal/agenttest"
	"github.com/tezgah/tezgah/internal/testwait"
)

// Every known label value is exported at 0 from the first scrape, so a
// rule's increase() sees the first event instead of the series' birth.
func TestMetricsKnownSeriesStartAtZero(t *testing.T) {
	d := startDemo(t)
	got := scrape(t, d)
	var want []string
	for _, e := range wsapi.ConnectionEvents {
		want = append(want, `tezgah_websocket_connections_total{event="`+e+`"}`)
	}
	for _, op := range []string{"accept", "worker", "read"} {
		want = append(want, `tezgah_database_errors_total{op="`+op+`"}`)
	}
	for _, st := range []string{"approved", "declined", "failed", "expired", "cancelled"} {
		want = append(want, `tezgah_results_total{provider="iyzico",status="`+st+`",terminal="kasa-1"}`,
			`tezgah_results_total{provider="paywall",status="`+st+`",terminal="kasa-3"}`)
	}
	want = append(want,
		`tezgah_requests_accepted_total{provider="iyzico",terminal="kasa-2"}`,
		`tezgah_provider_call_duration_seconds_count{call="send",outcome="error",provider="iyzico"}`,
		`tezgah_provider_call_duration_seconds_count{call="query",outcome="ok",provider="paywall"}`,
		`tezgah_reconciliations_total{outcome="not_found",provider="iyzico"}`,
		`tezgah_retries_total{provider="iyzico",reason="query_timeout",terminal="kasa-2"}`,
		`tezgah_results_undelivered`,
		`tezgah_results_undelivered_oldest_age_seconds`,
	)
	for _, name := range want {
		if v, ok := got[name]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0 from the start", name, v, ok)
		}
	}
}

// The agent says who it is, what its sale deadline is and how much room
// its data directory has: what the fleet's rules need.
func TestMetricsAgentIdentityAndDisk(t *testing.T) {
	cfg := config.Demo()
	cfg.Agent.ID = "kasa-pc-07"
	d := startAgent(t, cfg, true)
	got := scrape(t, d)
	if v := got[`tezgah_agent_info{agent_id="kasa-pc-07",shop="demo",version="test"}`]; v != 1 {
		t.Errorf("agent info = %v, want 1; have %v", v, keysWith(got, "tezgah_agent_info"))
	}
	if v := got[`tezgah_sale_timeout_seconds`]; v != 120 {
		t.Errorf("sale timeout = %v, want 120", v)
	}
	free, size := got[`tezgah_data_dir_free_bytes`], got[`tezgah_data_dir_size_bytes`]
	if free <= 0 || size < free {
		t.Errorf("data dir free %v of %v bytes", free, size)
	}
	if _, ok := got[`tezgah_tls_certificate_expiry_timestamp_seconds`]; ok {
		t.Error("certificate expiry exported without TLS")
	}
}

func keysWith(m map[string]float64, prefix string) []string {
	var out []string
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

// A refused handshake counts under its short event name, the one the
// HELP text and docs/operations.md list.
func TestMetricsRefusedConnectionsUseShortNames(t *testing.T) {
	d := startDemo(t)
	_, body := d.get(t, "/metrics")
	help := "# HELP tezgah_websocket_connections_total WebSocket connections by event: " + strings.Join(wsapi.ConnectionEvents, ", ") + "."
	if !strings.Contains(body, help) {
		t.Errorf("/metrics lacks %q", help)
	}
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range wsapi.ConnectionEvents {
		if !strings.Contains(string(doc), "`"+e+"`") {
			t.Errorf("docs/operations.md does not list the event %s", e)
		}
	}
	for _, c := range []struct {
		event  string
		header http.Header
	}{
		{"refused_origin", http.Header{"Origin": {"http://evil.example"}}},
		{"refused_host", http.Header{"Host": {"rebind.example:8417"}}},
	} {
		ws, resp, err := websocket.DefaultDialer.Dial(d.wsURL, c.header)
		if err == nil {
			ws.Close()
			t.Fatalf("%s: handshake accepted", c.event)
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: %v %v", c.event, resp, err)
		}
		if v := scrape(t, d)[`tezgah_websocket_connections_total{event="`+c.event+`"}`]; v != 1 {
			t.Errorf("%s counted %v times, want 1", c.event, v)
		}
	}
}

// A result no register was there to receive is counted until one asks
// for it; a result sent to its register never is.
func TestMetricsResultsUndelivered(t *testing.T) {
	cfg := config.Demo()
	sim := agenttest.IyzicoOnly(t, cfg, iyzicosim.Options{})
	cfg.Filedrop.Enabled = false
	d := &demo{logs: &logBuffer{t: t}}
	d.wsURL = agenttest.Run(t, cfg, agent.Options{Version: "test"})
	d.base = "http://" + strings.TrimSuffix(strings.TrimPrefix(d.wsURL, "ws://"), "/v1/ws")

	reg := d.dial(t)
	if ev := reg.sale("U-1", "kasa-1", "10.00"); ev.Status != "approved" {
		t.Fatalf("sale: %+v", ev)
	}
	results := `tezgah_results_total{provider="iyzico",status="approved",terminal="kasa-1"}`
	poll(t, "the first result counted", func() bool { return scrape(t, d)[results] == 1 }, nil)
	if v := scrape(t, d)[`tezgah_results_undelivered`]; v != 0 {
		t.Fatalf("undelivered = %v after the register got its result", v)
	}

	// The customer takes a while at the terminal; the register is gone
	// by the time the result comes.
	sim.SetFaults(iyzicosim.Faults{Latency: 3 * time.Second})
	reg.send(map[string]string{"type": "sale", "id": "U-2", "terminal": "kasa-1", "amount": "20.00"})
	reg.until("accepted", "U-2")
	reg.c.Close()
	var got map[string]float64
	poll(t, "the lost result counted as undelivered", func() bool {
		got = scrape(t, d)
		return got[results] == 2 && got[`tezgah_results_undelivered`] == 1
	}, func() string { return "undelivered " + strings.Join(keysWith(got, "tezgah_results_undelivered"), " ") })

	// The register comes back and asks.
	again := d.dial(t)
	again.send(map[string]string{"type": "query", "id": "U-2"})
	if ev := again.until("result", "U-2"); ev.Status != "approved" {
		t.Fatalf("query: %+v", ev)
	}
	poll(t, "the result delivered on query", func() bool { return scrape(t, d)[`tezgah_results_undelivered`] == 0 }, nil)
}

// A result written to the drop folder's result file has been delivered:
// back-office batches never show as results waiting for a register.
func TestMetricsDropFolderResultsAreDelivered(t *testing.T) {
	cfg := config.Demo()
	d := startAgent(t, cfg, true)
	dir := filepath.Join(cfg.Agent.DataDir, "filedrop")
	batch := `[{"type": "sale", "id": "B-1", "terminal": "kasa-1", "amount": "10.00"}]`
	if err := os.WriteFile(filepath.Join(dir, "inbox", "batch.json.tmp"), []byte(batch), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "inbox", "batch.json.tmp"), filepath.Join(dir, "inbox", "batch.json")); err != nil {
		t.Fatal(err)
	}
	results := `tezgah_results_total{provider="iyzico",status="approved",terminal="kasa-1"}`
	var got map[string]float64
	testwait.For(t, "the batch's result file and its result counted", 30*time.Second, func() bool {
		if _, err := os.Stat(filepath.Join(dir, "done", "batch.json.result.json")); err != nil {
			return false
		}
		got = scrape(t, d)
		return got[results] == 1
	}, func() string { return fmt.Sprint(got[results]) })
	if v := got[`tezgah_results_undelivered`]; v != 0 {
		t.Errorf("undelivered = %v, want 0: the result file delivered it", v)
	}
}
