package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tezgah/tezgah/internal/syncbuf"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/internal/testbin"
	"github.com/tezgah/tezgah/internal/testwait"
	"github.com/tezgah/tezgah/outbox"
)

func writeConfig(t *testing.T, path, dataDir, baseURL string, terminals ...string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "[agent]\nlisten = \"127.0.0.1:0\"\ndata_dir = %q\n", dataDir)
	fmt.Fprintf(&b, "[iyzico]\nbase_url = %q\nclient_id = \"c\"\nclient_secret = \"s\"\nusername = \"u\"\npassword = \"p\"\n", baseURL)
	for i, name := range terminals {
		fmt.Fprintf(&b, "[[terminal]]\nname = %q\nprovider = \"iyzico\"\ndevice_id = \"D%d\"\nmodel = \"vuk507\"\n", name, i+1)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A real tezgah process reloads its file on SIGHUP: a register stays
// connected through it, a sale queued before it is finished after it,
// a new terminal works, and a broken file changes nothing.
func TestSIGHUPReload(t *testing.T) {
	if testing.Short() || runtime.GOOS == "windows" {
		t.Skip("builds and runs the agent as a process; SIGHUP needs a Unix")
	}
	dir := t.TempDir()
	bin := buildTezgah(t)
	sim := iyzicosim.New(iyzicosim.Options{ClientID: "c", ClientSecret: "s", Username: "u", Password: "p", Devices: []string{"D1", "D2"}})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	cfg := filepath.Join(dir, "tezgah.toml")
	writeConfig(t, cfg, filepath.Join(dir, "data"), ts.URL, "kasa-1")

	cmd := exec.Command(bin, "run", "--config", cfg)
	var logs syncbuf.Buffer
	cmd.Stderr = &logs
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), " listening on "); ok {
				url <- u
			}
		}
	}()
	var wsURL string
	select {
	case wsURL = <-url:
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not start:\n%s", logs.String())
	}
	c, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := func(s string) {
		t.Helper()
		if err := c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	until := func(typ, id string) protocol.Event {
		t.Helper()
		for {
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			var ev protocol.Event
			if err := c.ReadJSON(&ev); err != nil {
				t.Fatalf("read: %v\nagent log:\n%s", err, logs.String())
			}
			if ev.Type == typ && (id == "" || ev.ID == id) {
				return ev
			}
		}
	}
	terminals := func() int {
		send(`{"type":"status"}`)
		return len(until("status", "").Terminals)
	}

	sim.SetFaults(iyzicosim.Faults{FailRate5xx: 1})
	send(`{"type":"sale","id":"Q1","terminal":"kasa-1","amount":"5.00"}`)
	until("accepted", "Q1")

	// A broken file: the agent logs it and keeps its configuration.
	os.WriteFile(cfg, []byte("[agent]\nlisten = 1\n"), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the reload error in the log", func() bool { return strings.Contains(logs.String(), "configuration not applied") })
	if n := terminals(); n != 1 {
		t.Fatalf("%d terminals after a broken reload", n)
	}

	writeConfig(t, cfg, filepath.Join(dir, "data"), ts.URL, "kasa-1", "kasa-2")
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "kasa-2 after SIGHUP", func() bool { return terminals() == 2 })
	sim.SetFaults(iyzicosim.Faults{})
	if r := until("result", "Q1"); r.Status != "approved" {
		t.Fatalf("queued sale: %+v", r)
	}
	send(`{"type":"sale","id":"N1","terminal":"kasa-2","amount":"1.00"}`)
	if r := until("result", "N1"); r.Status != "approved" {
		t.Fatalf("new terminal: %+v", r)
	}
}

// waitFor polls cond until it holds, with a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, what, 20*time.Second, cond, nil)
}

func TestDoctorCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tezgah.toml")
	os.WriteFile(cfg, []byte("[agent]\nlistn = \"x\"\n"), 0o600)
	var out, errb bytes.Buffer
	if code := run([]string{"doctor", "--json", "--no-service", "--config", cfg}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1 on a FAIL\n%s%s", code, out.String(), errb.String())
	}
	var rep struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Check, Status, Detail string
		} `json:"checks"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.OK || len(rep.Checks) != 1 ||
		rep.Checks[0].Status != "FAIL" || !strings.Contains(rep.Checks[0].Detail, `tezgah.toml:2: unknown key "agent.listn"`) {
		t.Fatalf("report %s (%v)", out.String(), err)
	}
}

// A backup taken while the agent writes is a complete database with every
// committed request, and restores by copying it into place.
func TestBackupWhileRunning(t *testing.T) {
	dir := t.TempDir()
	store, err := outbox.Open(filepath.Join(dir, agent.DBFile), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c, _ := protocol.Decode([]byte(`{"type":"sale","id":"B1","terminal":"kasa-1","amount":"5.00"}`))
	if _, _, err := store.Accept(context.Background(), outbox.NewRequest{ID: c.ID, Terminal: c.Terminal, Op: c.Type, Body: c.Canonical()}); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "backup.db")
	var out, errb bytes.Buffer
	if code := run([]string{"backup", "--data-dir", dir, dest}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if code := run([]string{"backup", "--data-dir", dir, dest}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "exists") {
		t.Fatalf("overwrote a backup: %d %s", code, errb.String())
	}
	restored, err := outbox.Open(dest, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if r, _, err := restored.Get(context.Background(), "", "B1"); err != nil || r.State != outbox.Queued {
		t.Fatalf("backup lacks B1: %+v %v", r, err)
	}
	if fi, _ := os.Stat(dest); fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup mode %v", fi.Mode())
	}
}

// buildTezgah compiles this command once per test run.
func buildTezgah(t *testing.T) string {
	t.Helper()
	return testbin.Build(t, ".", "-race")
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// Under the service manager (`run --service`, here without one: the
// Linux path waits for SIGTERM as systemd sends it) the agent logs to the
// rotated file in its data directory and stops cleanly on SIGTERM.
func TestServiceModeLogsAndStops(t *testing.T) {
	if testing.Short() || runtime.GOOS == "windows" {
		t.Skip("runs the agent as a process")
	}
	bin := buildTezgah(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tezgah.toml")
	writeConfig(t, cfg, filepath.Join(dir, "data"), "http://127.0.0.1:1", "kasa-1")
	cmd := exec.Command(bin, "run", "--service", "--config", cfg)
	var logs syncbuf.Buffer
	cmd.Stderr = &logs
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), " listening on ") {
				close(listening)
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case <-listening:
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not start:\n%s", logs.String())
	}
	logFile := filepath.Join(dir, "data", "logs", "tezgah.log")
	waitFor(t, "the log file", func() bool {
		b, _ := os.ReadFile(logFile)
		return bytes.Contains(b, []byte(`"msg":"tezgah listening"`))
	})
	// Standard error reaches the buffer through exec's copying goroutine,
	// so it may trail the file.
	waitFor(t, "the log on standard error (journald)", func() bool {
		return strings.Contains(logs.String(), "tezgah listening")
	})
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not stop on SIGTERM")
	}
}

// An agent that cannot run (its port is taken) exits non-zero at once, so
// systemd's Restart=always or the Windows recovery actions try again.
func TestServiceModeFailureExitsNonZero(t *testing.T) {
	if testing.Short() || runtime.GOOS == "windows" {
		t.Skip("runs the agent as a process")
	}
	bin := buildTezgah(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tezgah.toml")
	writeConfig(t, cfg, filepath.Join(dir, "data"), "http://127.0.0.1:1", "kasa-1")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, bytes.Replace(b, []byte(`"127.0.0.1:0"`), []byte(`"`+busy.Addr().String()+`"`), 1), 0o600)
	cmd := exec.Command(bin, "run", "--service", "--config", cfg)
	var logs syncbuf.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(logs.String(), "listen on") {
			t.Fatalf("exit %v, want status 1 naming the port\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("agent with a taken port did not exit")
	}
}

// Ctrl-C on the foreground agent says where the data is and what is
// still to do there, not just "stopped".
func TestInterruptSaysWhatIsLeft(t *testing.T) {
	if testing.Short() || runtime.GOOS == "windows" {
		t.Skip("builds and runs the agent as a process; interrupts it with SIGINT")
	}
	dir := t.TempDir()
	bin := buildTezgah(t)
	sim := iyzicosim.New(iyzicosim.Options{ClientID: "c", ClientSecret: "s", Username: "u", Password: "p", Devices: []string{"D1"}})
	sim.SetFaults(iyzicosim.Faults{FailRate5xx: 1}) // the sale stays queued
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	cfg := filepath.Join(dir, "tezgah.toml")
	data := filepath.Join(dir, "data")
	writeConfig(t, cfg, data, ts.URL, "kasa-1")
	cmd := exec.Command(bin, "run", "--config", cfg)
	var stdout, logs syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var wsURL string
	waitFor(t, "the agent listening", func() bool {
		_, rest, ok := strings.Cut(stdout.String(), " listening on ")
		wsURL, _, _ = strings.Cut(rest, "\n")
		return ok && strings.Contains(rest, "\n")
	})
	c, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"sale","id":"P1","terminal":"kasa-1","amount":"5.00"}`))
	for {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		var ev protocol.Event
		if err := c.ReadJSON(&ev); err != nil {
			t.Fatalf("read: %v\n%s", err, logs.String())
		}
		if ev.Type == "accepted" {
			break
		}
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not stop on SIGINT")
	}
	out := stdout.String()
	for _, want := range []string{"tezgah stopped; its data is in " + data + " (tezgah.db)", "1 request(s) still pending"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}
