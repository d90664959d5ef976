package agent

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
)

// A reload moves the agent to new credentials (another iyzico merchant),
// adds and removes terminals, while a register stays connected and a sale
// queued before the reload is finished by the new provider.
func TestReloadKeepsConnectionAndQueuedWork(t *testing.T) {
	h := startAgent(t, "", nil)
	h.sim.SetFaults(iyzicosim.Faults{FailRate5xx: 1}) // the old account stops working
	c := h.dial(t)
	c.send(`{"type":"sale","id":"Q1","terminal":"kasa-2","amount":"12.00"}`)
	c.until("accepted", "Q1")

	simB := iyzicosim.New(iyzicosim.Options{
		ClientID: "b-client", ClientSecret: "b-secret", Username: "b", Password: "b-pass",
		Devices: []string{"P00135", "P00136"},
	})
	tsB := httptest.NewServer(simB)
	t.Cleanup(tsB.Close)
	file := fmt.Sprintf(`
[agent]
id = "kasa-pc-9"
shop = "moda"
sale_timeout = "90s"
listen = %q
data_dir = %q
[iyzico]
base_url = %q
client_id = "b-client"
client_secret = "b-secret"
username = "b"
password = "b-pass"
tax_group_code = "KDV20"
[[terminal]]
name = "kasa-2"
provider = "iyzico"
device_id = "P00135"
model = "vuk507"
[[terminal]]
name = "kasa-4"
provider = "iyzico"
device_id = "P00136"
model = "vuk507"
`, "127.0.0.1:1", h.dir, tsB.URL)
	cfg, err := config.Parse("reload.toml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := h.a.Reload(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Added, []string{"kasa-4"}) || !slices.Equal(rep.Removed, []string{"kasa-1", "kasa-3", "vpos-1"}) ||
		len(rep.Changed) != 0 || !slices.Contains(rep.NeedsRestart, "agent.listen") {
		t.Fatalf("report %+v", rep)
	}

	if r := c.until("result", "Q1"); r.Status != "approved" {
		t.Fatalf("queued sale after reload: %+v", r)
	}
	// The chain's monitoring sees the new identity and deadline at once.
	want := `# HELP tezgah_agent_info Always 1; says which agent this is (agent.id), which shop it serves (agent.shop) and its version.
# TYPE tezgah_agent_info gauge
tezgah_agent_info{agent_id="kasa-pc-9",shop="moda",version="test"} 1
# HELP tezgah_sale_timeout_seconds agent.sale_timeout: a sale not sent by then expires; a request pending longer is overdue.
# TYPE tezgah_sale_timeout_seconds gauge
tezgah_sale_timeout_seconds 90
`
	if err := testutil.GatherAndCompare(h.a.web.Metrics().Registry(), strings.NewReader(want), "tezgah_agent_info", "tezgah_sale_timeout_seconds"); err != nil {
		t.Error(err)
	}
	c.send(`{"type":"sale","id":"N1","terminal":"kasa-4","amount":"3.00"}`)
	if r := c.until("result", "N1"); r.Status != "approved" {
		t.Fatalf("new terminal: %+v", r)
	}
	if e := c.errorFor(`{"type":"sale","id":"N2","terminal":"kasa-1","amount":"3.00"}`); e.Code != protocol.CodeUnknownTerminal {
		t.Fatalf("removed terminal: %+v", e)
	}
	refs := map[string]bool{}
	for _, e := range simB.Ledger() {
		refs[e.Device] = true
	}
	if !refs["P00135"] || !refs["P00136"] {
		t.Fatalf("new account's ledger %+v", simB.Ledger())
	}
	if len(h.sim.Ledger()) != 0 {
		t.Fatalf("old account charged: %+v", h.sim.Ledger())
	}
}

func TestReloadRefusesProviderMoveWithPendingWork(t *testing.T) {
	h := startAgent(t, "", nil)
	h.sim.SetFaults(iyzicosim.Faults{FailRate5xx: 1})
	c := h.dial(t)
	c.send(`{"type":"sale","id":"Q1","terminal":"kasa-1","amount":"12.00"}`)
	c.until("accepted", "Q1")
	cfg := *h.cfg
	before := len(cfg.Terminals)
	cfg.Iyzico = nil
	cfg.Terminals = []config.Terminal{{Name: "kasa-1", Provider: "other"}}
	// The check comes before the provider is looked up, so an unknown
	// provider name is enough to stand for "another provider".
	_, err := h.a.Reload(context.Background(), &cfg)
	if err == nil || !strings.Contains(err.Error(), "terminal kasa-1 has 1 pending requests on iyzico") {
		t.Fatalf("err %v", err)
	}
	c.send(`{"type":"status"}`)
	if st := c.until("status", ""); len(st.Terminals) != before {
		t.Fatalf("failed reload changed the terminals: %+v", st.Terminals)
	}
}
