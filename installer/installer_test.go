package installer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kardianos/service"
)

// fakeService stands in for systemd / the Windows service manager, which
// cannot run in a test. It is the only fake in the project's tests.
type fakeService struct {
	installed, running bool
	platform           string
	calls              []string
}

func (f *fakeService) Run() error { return nil }
func (f *fakeService) Start() error {
	f.calls = append(f.calls, "start")
	f.running = true
	return nil
}
func (f *fakeService) Stop() error {
	f.calls = append(f.calls, "stop")
	f.running = false
	return nil
}
func (f *fakeService) Restart() error { f.calls = append(f.calls, "restart"); return nil }
func (f *fakeService) Install() error {
	f.calls = append(f.calls, "install")
	if f.installed {
		return errors.New("Init already exists: /etc/systemd/system/tezgah.service")
	}
	f.installed = true
	return nil
}
func (f *fakeService) Uninstall() error {
	f.calls = append(f.calls, "uninstall")
	f.installed = false
	return nil
}
func (f *fakeService) Logger(chan<- error) (service.Logger, error) { return service.ConsoleLogger, nil }
func (f *fakeService) SystemLogger(chan<- error) (service.Logger, error) {
	return service.ConsoleLogger, nil
}
func (f *fakeService) String() string { return "tezgah" }
func (f *fakeService) Platform() string {
	if f.platform != "" {
		return f.platform
	}
	return "linux-systemd"
}
func (f *fakeService) Status() (service.Status, error) {
	switch {
	case !f.installed:
		return service.StatusUnknown, service.ErrNotInstalled
	case f.running:
		return service.StatusRunning, nil
	}
	return service.StatusStopped, nil
}

func manager(t *testing.T, admin bool) (*Manager, *fakeService) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "tezgah.toml")
	if err := os.WriteFile(cfg, []byte("# test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fakeService{}
	return &Manager{Service: f, ConfigPath: cfg, IsAdmin: func() bool { return admin }}, f
}

func TestInstallTwiceSaysAlreadyInstalled(t *testing.T) {
	m, f := manager(t, true)
	if err := m.Install(); err != nil {
		t.Fatal(err)
	}
	err := m.Install()
	if !errors.Is(err, ErrAlreadyInstalled) || !strings.Contains(err.Error(), "tezgah uninstall") {
		t.Fatalf("second install: %v", err)
	}
	if strings.Join(f.calls, ",") != "install" {
		t.Fatalf("service manager called %v; the second install must not reach it", f.calls)
	}
	if got := m.State(); got != "stopped" {
		t.Fatalf("state %q", got)
	}
}

func TestNotAdmin(t *testing.T) {
	m, f := manager(t, false)
	for name, op := range map[string]func() error{
		"install": m.Install, "uninstall": m.Uninstall, "start": func() error { return m.Control("start") },
	} {
		if err := op(); !errors.Is(err, ErrNotAdmin) || !strings.Contains(err.Error(), notAdminMessage) {
			t.Errorf("%s without rights: %v", name, err)
		}
	}
	if len(f.calls) != 0 {
		t.Fatalf("service manager called: %v", f.calls)
	}
}

func TestInstallNeedsConfigFile(t *testing.T) {
	m, f := manager(t, true)
	m.ConfigPath = filepath.Join(t.TempDir(), "missing.toml")
	if err := m.Install(); err == nil || !strings.Contains(err.Error(), "tezgah.example.toml") {
		t.Fatalf("install without config: %v", err)
	}
	if len(f.calls) != 0 {
		t.Fatalf("service manager called: %v", f.calls)
	}
}

func TestLifecycle(t *testing.T) {
	m, f := manager(t, true)
	if err := m.Control("start"); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("start before install: %v", err)
	}
	if err := m.Uninstall(); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("uninstall before install: %v", err)
	}
	if m.State() != "not installed" {
		t.Fatalf("state %q", m.State())
	}
	for _, step := range []func() error{m.Install, func() error { return m.Control("start") }, m.Uninstall} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	// A running service is stopped before it is removed.
	if got := strings.Join(f.calls, ","); got != "install,start,stop,uninstall" {
		t.Fatalf("calls %s", got)
	}
}

func TestServiceConfig(t *testing.T) {
	c := ServiceConfig("/usr/bin/tezgah", "/etc/tezgah/tezgah.toml")
	if strings.Join(c.Arguments, " ") != "run --service --config /etc/tezgah/tezgah.toml" {
		t.Fatalf("arguments %v", c.Arguments)
	}
	for _, k := range []string{"OnFailure", "OnFailureDelayDuration", "OnFailureResetPeriod", "StartType", "SystemdScript"} {
		if _, ok := c.Option[k]; !ok {
			t.Errorf("option %s missing", k)
		}
	}
}

func TestSystemdQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/tezgah":         "/usr/bin/tezgah",
		"/opt/my dir/tezgah.toml": `"/opt/my dir/tezgah.toml"`,
		"/a/$HOME%x":              `"/a/$$HOME%%x"`,
	} {
		if got := systemdQuote(in); got != want {
			t.Errorf("systemdQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// The service program stops the agent through its context and reports a
// failure that was not asked for, so the service manager restarts it.
func TestProgram(t *testing.T) {
	t.Run("stop", func(t *testing.T) {
		stopped := make(chan struct{})
		p := &program{failed: make(chan error, 1), run: func(ctx context.Context) error {
			<-ctx.Done()
			close(stopped)
			return nil
		}}
		if err := p.Start(nil); err != nil {
			t.Fatal(err)
		}
		if err := p.Stop(nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-stopped:
		default:
			t.Fatal("Stop returned before the agent stopped")
		}
	})
	t.Run("failure", func(t *testing.T) {
		p := &program{failed: make(chan error, 1), run: func(ctx context.Context) error {
			return errors.New("listen: address in use")
		}}
		p.Start(nil)
		select {
		case err := <-p.failed:
			if !strings.Contains(err.Error(), "address in use") {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("failure not reported")
		}
	})
}

// Without systemd (a container) every command says so plainly, instead of
// kardianos's SysV fallback's "exit status 1" or "remove
// /etc/init.d/tezgah: no such file or directory".
func TestEveryCommandNeedsSystemd(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("systemd is a Linux matter")
	}
	m, f := manager(t, true)
	f.platform = "unix-systemv" // what kardianos picks in a container without systemd
	for name, run := range map[string]func() error{
		"install":   m.Install,
		"uninstall": m.Uninstall,
		"start":     func() error { return m.Control("start") },
		"stop":      func() error { return m.Control("stop") },
	} {
		if err := run(); !errors.Is(err, ErrNoServiceManager) {
			t.Errorf("%s without systemd: %v", name, err)
		}
	}
	if st := m.State(); st != ErrNoServiceManager.Error() {
		t.Errorf("status without systemd: %q", st)
	}
	if len(f.calls) != 0 {
		t.Fatalf("service manager called: %v", f.calls)
	}
}
