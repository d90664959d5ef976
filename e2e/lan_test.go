package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/internal/netnstest"
)

// TestLANDiscoveryAndSession is the shop network for real: the agent
// runs in one network namespace, and from another one joined to it by a
// veth pair `tezgah discover` must find it within 5 s, and a register
// (this test binary, re-run inside that namespace) must open a session
// at the advertised address with its pairing token, and be refused
// without one.
func TestLANDiscoveryAndSession(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test; skipped with -short")
	}
	agentBin, _ := build(t)
	shop, register := netnstest.Pair(t)
	data := t.TempDir()
	logf, err := os.Create(filepath.Join(t.TempDir(), "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("agent output:\n%s", b)
		}
		logf.Close()
	})

	out, err := exec.Command(agentBin, "pair", "--data-dir", data, "--name", "kasa-9").CombinedOutput()
	if err != nil {
		t.Fatalf("tezgah pair: %v\n%s", err, out)
	}
	token := regexp.MustCompile(`(?m)^(tzg_\S+)$`).FindStringSubmatch(string(out))
	if token == nil {
		t.Fatalf("no token in:\n%s", out)
	}

	host, _ := os.Hostname()
	start(t, agentListening, logf, "ip", "netns", "exec", shop.Name,
		agentBin, "run", "--demo", "--data-dir", data, "--listen", "0.0.0.0:8417")

	began := time.Now()
	cmd := register.Command(agentBin, "discover", "--json", "--timeout", "5s", "--id", host)
	cmd.Stderr = os.Stderr
	out, err = cmd.Output()
	took := time.Since(began)
	if err != nil {
		t.Fatalf("tezgah discover in the register's namespace after %v: %v\n%s", took, err, out)
	}
	var found struct {
		Instance string            `json:"instance"`
		Addrs    []string          `json:"addresses"`
		Port     int               `json:"port"`
		Text     map[string]string `json:"txt"`
		URL      string            `json:"url"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &found); err != nil {
		t.Fatalf("discover output %q: %v", out, err)
	}
	t.Logf("found in %v: %+v", took, found)
	if took > 5*time.Second {
		t.Fatalf("found after %v, want within 5s", took)
	}
	if !slices.Contains(found.Addrs, shop.Addr) || found.Port != 8417 || found.Text["id"] != host ||
		found.Text["v"] != "1" || found.Text["path"] != "/v1/ws" || found.Text["auth"] != "token" || found.Text["tls"] != "off" ||
		found.URL != "ws://"+shop.Addr+":8417/v1/ws" {
		t.Fatalf("advertisement %+v, want %s:8417 with v=1 path=/v1/ws id=%s auth=token tls=off", found, shop.Addr, host)
	}

	client := register.Command(os.Args[0], "-test.run", "^TestLANRegister$", "-test.v", "-test.count=1")
	client.Env = append(os.Environ(), "TEZGAH_LAN_URL="+found.URL, "TEZGAH_LAN_TOKEN="+token[1])
	out, err = client.CombinedOutput()
	t.Logf("register in its namespace:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestLANRegister") {
		t.Fatalf("the register's session failed: %v", err)
	}
}

// TestLANRegister is the register's side of TestLANDiscoveryAndSession,
// run inside the register's namespace; on its own it does nothing.
func TestLANRegister(t *testing.T) {
	url, token := os.Getenv("TEZGAH_LAN_URL"), os.Getenv("TEZGAH_LAN_TOKEN")
	if url == "" {
		t.Skip("run by TestLANDiscoveryAndSession inside a network namespace")
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	_, resp, err := d.Dial(url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a token: %v %v, want 401", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `"code":"token_required"`) {
		t.Fatalf("refusal body %s lacks token_required", body)
	}
	c, _, err := d.Dial(url, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatalf("with the token: %v", err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := c.WriteJSON(map[string]string{"type": "sale", "id": "LAN-1", "terminal": "kasa-1", "amount": "12.50"}); err != nil {
		t.Fatal(err)
	}
	for {
		var ev struct {
			Type   string `json:"type"`
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		if err := c.ReadJSON(&ev); err != nil {
			t.Fatalf("reading the sale's events: %v", err)
		}
		t.Logf("event %+v", ev)
		if ev.Type == "error" {
			t.Fatalf("sale refused: %+v", ev)
		}
		if ev.Type == "result" {
			if ev.ID != "LAN-1" || ev.Status != "approved" {
				t.Fatalf("result %+v, want LAN-1 approved", ev)
			}
			return
		}
	}
}
