// Package installer puts tezgah in the OS service manager and takes it
// out again: a systemd unit on Linux (dedicated user, StateDirectory,
// sandboxing, Restart=always), a Windows service (automatic start, the
// LocalService account, restart on crash). It wraps
// github.com/kardianos/service, so the commands read the same on both, and
// turns what the OS says into messages a technician can act on: "already
// installed", "run as root", "not installed".
//
// Packaging (.deb, .msi) lives in installer/cmd/package and reuses the
// unit and identity defined here.
package installer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/kardianos/service"
)

// Errors callers branch on; their messages say what to do.
var (
	ErrNotAdmin         = errors.New(notAdminMessage)
	ErrAlreadyInstalled = errors.New("tezgah is already installed as a service; to reinstall, run `tezgah uninstall` first; to apply a changed configuration, run `tezgah reload`")
	ErrNotInstalled     = errors.New("tezgah is not installed as a service; run `tezgah install` first")
)

// ServiceConfig is the kardianos configuration of the service.
func ServiceConfig(exe, configPath string) *service.Config {
	c := &service.Config{
		Name:        Name,
		DisplayName: DisplayName,
		Description: Description,
		Executable:  exe,
		Arguments:   Args(configPath),
		Option: service.KeyValue{
			// Windows: start with the machine; after a crash restart in 5 s,
			// and count failures afresh after a day without one.
			"StartType":              "automatic",
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "5s",
			"OnFailureResetPeriod":   int((24 * time.Hour).Seconds()),
			// Linux: our own unit; kardianos's default has no sandboxing.
			"SystemdScript": SystemdUnit(exe, configPath),
			"ReloadSignal":  "HUP",
		},
	}
	if runtime.GOOS == "windows" {
		c.UserName = WindowsAccount
	} else {
		c.UserName = User
	}
	return c
}

// Manager drives one service through an OS service manager.
type Manager struct {
	// Service is the OS service manager's view of tezgah. Tests pass a
	// fake: the real one needs systemd or the Windows SCM.
	Service service.Service
	// ConfigPath is the file the service reads.
	ConfigPath string
	// IsAdmin reports whether this process may install services.
	IsAdmin func() bool
	// Prepare readies the machine before the service is registered: the
	// service user and the directories (see prepare_*.go). It leaves
	// nothing changed when it fails, and returns what takes its changes
	// back. Nil in tests.
	Prepare func(configPath string) (undo func() error, err error)
	// Settings are the steps after the registration (Windows: the
	// description, recovery actions, Event Log source).
	Settings []Step
	// Warn reports an optional setting the system refused.
	Warn func(msg string)
}

// New returns a Manager for this OS, for the executable exe.
func New(exe, configPath string) (*Manager, error) {
	svc, err := service.New(noop{}, ServiceConfig(exe, configPath))
	if err != nil {
		return nil, fmt.Errorf("installer: %w", err)
	}
	return &Manager{
		Service: platformService(svc, exe, configPath), ConfigPath: configPath,
		IsAdmin: isAdmin, Prepare: prepare, Settings: settings(),
	}, nil
}

// Executable is this program's absolute path, with symlinks resolved so
// the service does not depend on a link that an upgrade may move.
func Executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("installer: %w", err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return exe, nil
}

// noop is the service.Interface of a process that only manages the
// service; the running agent has its own (see cmd/tezgah).
type noop struct{}

func (noop) Start(service.Service) error { return nil }
func (noop) Stop(service.Service) error  { return nil }

// Install registers the service. The config file must exist: a service
// that starts only to fail would restart forever. Install is all or
// nothing: when a step fails, those done are undone (see Step), and an
// optional setting the system refuses goes to Warn.
func (m *Manager) Install() error {
	if !m.IsAdmin() {
		return ErrNotAdmin
	}
	if _, err := os.Stat(m.ConfigPath); err != nil {
		return fmt.Errorf("installer: the service would read %s: %w (copy configs/tezgah.example.toml there and edit it, or pass --config)", m.ConfigPath, err)
	}
	if err := m.supported(); err != nil {
		return err
	}
	if m.installed() {
		return ErrAlreadyInstalled
	}
	var steps []Step
	if m.Prepare != nil {
		steps = append(steps, Step{Name: "directories and permissions", Do: func() (func() error, error) {
			return m.Prepare(m.ConfigPath)
		}})
	}
	steps = append(steps, Step{Name: "service registration", Do: func() (func() error, error) {
		if err := m.Service.Install(); err != nil {
			return nil, err
		}
		return m.Service.Uninstall, nil
	}})
	warnings, err := runSteps(append(steps, m.Settings...))
	for _, w := range warnings {
		if m.Warn != nil {
			m.Warn(w)
		}
	}
	if err != nil {
		return fmt.Errorf("installer: install failed and was undone: %w", err)
	}
	return nil
}

// Uninstall stops and removes the service. The data directory and the
// config stay: uninstalling must never lose a result (docs/operations.md
// says how to remove them too).
func (m *Manager) Uninstall() error {
	if !m.IsAdmin() {
		return ErrNotAdmin
	}
	if err := m.supported(); err != nil {
		return err
	}
	if !m.installed() {
		return ErrNotInstalled
	}
	if st, _ := m.Service.Status(); st == service.StatusRunning {
		if err := m.Service.Stop(); err != nil {
			return fmt.Errorf("installer: stop before uninstall: %w", err)
		}
	}
	if err := m.Service.Uninstall(); err != nil {
		return fmt.Errorf("installer: uninstall: %w", err)
	}
	return nil
}

// Control runs start, stop or restart.
func (m *Manager) Control(action string) error {
	if !m.IsAdmin() {
		return ErrNotAdmin
	}
	if err := m.supported(); err != nil {
		return err
	}
	if !m.installed() {
		return ErrNotInstalled
	}
	var err error
	switch action {
	case "start":
		err = m.Service.Start()
	case "stop":
		err = m.Service.Stop()
	case "restart":
		err = m.Service.Restart()
	default:
		return fmt.Errorf("installer: unknown action %q", action)
	}
	if err != nil {
		return fmt.Errorf("installer: %s: %w", action, err)
	}
	return nil
}

// State is the service's state in words: "running", "stopped",
// "not installed", or what the service manager said.
func (m *Manager) State() string {
	if err := m.supported(); err != nil {
		return err.Error()
	}
	st, err := m.Service.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return "not installed"
	case err != nil:
		return "unknown (" + err.Error() + ")"
	case st == service.StatusRunning:
		return "running"
	case st == service.StatusStopped:
		return "stopped"
	}
	return "unknown"
}

// ErrNoServiceManager: Linux without systemd running, typically a
// container. kardianos falls back to SysV scripts there, whose failures
// read "exit status 1" or "remove /etc/init.d/tezgah: no such file".
var ErrNoServiceManager = errors.New("no supported service manager is running on this machine: tezgah installs as a systemd service, and systemd is not running here (a container?). Run the agent in the foreground instead, under the container's own supervisor: `tezgah run --config FILE`")

// supported says whether this machine's service manager is one tezgah
// installs into: our unit carries the sandboxing and the restart policy,
// other init systems would get kardianos's bare script instead.
func (m *Manager) supported() error {
	if runtime.GOOS == "linux" && m.Service.Platform() != "linux-systemd" {
		return ErrNoServiceManager
	}
	return nil
}

func (m *Manager) installed() bool {
	_, err := m.Service.Status()
	return !errors.Is(err, service.ErrNotInstalled)
}
