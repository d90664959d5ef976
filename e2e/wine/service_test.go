package wine

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/internal/testwait"
)

// service runs `tezgah.exe ACTION ...` with the given executable and
// returns its output; must says whether it has to succeed.
func (e *env) service(t *testing.T, exe string, must bool, args ...string) string {
	t.Helper()
	out, err := e.win(t, 3*time.Minute, append([]string{exe}, args...)...)
	if must && err != nil {
		t.Fatalf("tezgah %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// wantState checks what `tezgah status` says.
func (e *env) wantState(t *testing.T, exe, want string) {
	t.Helper()
	if out := e.service(t, exe, true, "status"); strings.TrimSpace(out) != "tezgah service: "+want {
		t.Fatalf("status: %q, want %q", out, want)
	}
}

// registered reports whether the Service Control Manager's registry has
// a service named name.
func (e *env) registered(t *testing.T, name string) bool {
	t.Helper()
	_, err := e.win(t, time.Minute, "reg", "query", `HKLM\System\CurrentControlSet\Services\`+name)
	return err == nil
}

// uninstallOnCleanup takes the service away however the test ends, so
// the next test starts from a clean service manager.
func (e *env) uninstallOnCleanup(t *testing.T, exe string) {
	t.Cleanup(func() {
		if e.registered(t, "tezgah") {
			e.win(t, 2*time.Minute, exe, "uninstall")
		}
	})
}

// waitListen waits until the agent at url takes connections: a service
// reports "running" before its agent listens.
func waitListen(t *testing.T, url string) {
	t.Helper()
	testwait.For(t, "the service to listen on "+url, 2*time.Minute, func() bool {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, nil)
}

// saleOver makes a sale through the agent at url once it listens, and
// returns the result event.
func saleOver(t *testing.T, url, terminal, id string) event {
	t.Helper()
	waitListen(t, url)
	r := dial(t, url)
	r.send(map[string]any{"type": "sale", "id": id, "terminal": terminal, "amount": "42.00"})
	return r.result(id, 2*time.Minute)
}

// TestServiceLifecycle installs tezgah.exe in Wine's Service Control
// Manager, starts it, makes a sale through it, stops and uninstalls it.
func TestServiceLifecycle(t *testing.T) {
	e := setup(t)
	sim := newSimulator(t)
	port := freePort(t)
	const cfg = `C:\tz\svc\tezgah.toml`
	e.writeWin(t, cfg, sim.config(fmt.Sprintf("127.0.0.1:%d", port), `C:\tz\svc\data`))
	url := fmt.Sprintf("ws://127.0.0.1:%d/v1/ws", port)
	e.uninstallOnCleanup(t, e.exe)

	out := e.service(t, e.exe, true, "install", "--config", cfg)
	if !strings.Contains(out, "installed the tezgah service") {
		t.Fatalf("install: %s", out)
	}
	// Wine 8.0 refuses the recovery flag for stops with errors: a
	// warning that says what is missing, and the install goes on.
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "warning:") && !strings.Contains(l, "the system refused it") {
			t.Errorf("a warning that does not say what was refused: %s", l)
		}
	}
	t.Logf("install said:\n%s", out)
	e.wantState(t, e.exe, "stopped")

	e.service(t, e.exe, true, "start")
	e.wantState(t, e.exe, "running")
	if res := saleOver(t, url, "kasa-1", "SVC-1"); res.Status != "approved" {
		t.Fatalf("sale through the service: %+v", res)
	}
	// It is the service that answered: in service mode the agent logs to
	// its data directory, not to a console.
	logFile := e.host(`C:\tz\svc\data\logs\tezgah.log`)
	if _, err := os.Stat(logFile); err != nil {
		t.Errorf("the service's log: %v", err)
	}

	// reload reaches the service as the "paramchange" control: a
	// terminal added to the file takes sales without a restart.
	e.writeWin(t, cfg, append(sim.config(fmt.Sprintf("127.0.0.1:%d", port), `C:\tz\svc\data`),
		"\n[[terminal]]\nname = \"kasa-2\"\nprovider = \"iyzico\"\ndevice_id = \"P00135\"\nmodel = \"vuk507\"\n"...))
	e.service(t, e.exe, true, "reload")
	testwait.For(t, "the service to reload", 2*time.Minute, func() bool {
		b, _ := os.ReadFile(logFile)
		return strings.Contains(string(b), "configuration reloaded")
	}, func() string { b, _ := os.ReadFile(logFile); return string(b) })
	if res := saleOver(t, url, "kasa-2", "SVC-2"); res.Status != "approved" {
		t.Fatalf("sale on the terminal added by reload: %+v", res)
	}

	e.service(t, e.exe, true, "stop")
	e.wantState(t, e.exe, "stopped")
	testwait.For(t, "the stopped service to close its port", time.Minute, func() bool {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, nil)

	if out := e.service(t, e.exe, true, "uninstall"); !strings.Contains(out, "removed the tezgah service") {
		t.Fatalf("uninstall: %s", out)
	}
	e.wantState(t, e.exe, "not installed")
	if e.registered(t, "tezgah") {
		t.Fatal("the service is still in the registry after uninstall")
	}
}

// TestServiceInstallUndone makes the registration fail after the
// directories were prepared (another service already has tezgah's
// display name) and checks that the install leaves nothing behind.
func TestServiceInstallUndone(t *testing.T) {
	e := setup(t)
	sim := newSimulator(t)
	const cfg = `C:\tz\undo\tezgah.toml`
	e.writeWin(t, cfg, sim.config("127.0.0.1:0", `C:\tz\undo\data`))
	// The service's data directory comes from an earlier test's install
	// (an uninstall keeps it): this install must make it again.
	programData := e.host(`C:\ProgramData\tezgah`)
	if err := os.RemoveAll(programData); err != nil {
		t.Fatal(err)
	}
	e.mustWin(t, time.Minute, "sc", "create", "tzother", "binPath=", `C:\tzbin\other.exe`, "DisplayName=", "tezgah payment agent")
	t.Cleanup(func() { e.win(t, time.Minute, "sc", "delete", "tzother") })
	e.uninstallOnCleanup(t, e.exe)

	out := e.service(t, e.exe, false, "install", "--config", cfg)
	if !strings.Contains(out, "install failed and was undone: service registration:") {
		t.Fatalf("install: %s", out)
	}
	e.wantState(t, e.exe, "not installed")
	if _, err := os.Stat(programData); err == nil {
		t.Errorf("the failed install left %s behind", programData)
	}
	if _, err := e.win(t, time.Minute, "reg", "query", `HKLM\System\CurrentControlSet\Services\EventLog\Application\tezgah`); err == nil {
		t.Error("the failed install left its Event Log source behind")
	}
}
