//go:build windows

package installer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/tezgah/tezgah/agent/config"
)

const notAdminMessage = "installing or controlling the service needs an administrator: open the command prompt with \"Run as administrator\""

func isAdmin() bool {
	return windows.GetCurrentProcessToken().IsElevated()
}

// prepare makes the config directory readable, and the data directory
// writable, by the service account only (and administrators): the config
// may hold secrets, and %ProgramData% is readable by every user.
func prepare(configPath string) error {
	dir := filepath.Dir(configPath)
	data := config.ServiceDataDir()
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	for _, args := range [][]string{
		{dir, "/inheritance:r", "/grant:r", "*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F", "*S-1-5-19:(OI)(CI)RX"},
		{data, "/grant:r", "*S-1-5-19:(OI)(CI)M"},
	} {
		// S-1-5-18 SYSTEM, S-1-5-32-544 Administrators, S-1-5-19 LocalService:
		// SIDs, because the names are translated on non-English Windows.
		if out, err := exec.Command("icacls", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("icacls %s: %v: %s", args[0], err, out)
		}
	}
	return nil
}

// recoveryActions restart the service after every crash, 5 s later,
// counting failures afresh after a day without one. kardianos/service
// sets only the first action; the second and later failures need theirs.
func setRecovery() error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(Name)
	if err != nil {
		return fmt.Errorf("open service %s: %w", Name, err)
	}
	defer s.Close()
	restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 5 * time.Second}
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{restart, restart, restart}, uint32((24 * time.Hour).Seconds())); err != nil {
		return err
	}
	// The agent reports "stopped with an error" when it fails by itself
	// (say, its port is taken); that must restart it too, not only a crash.
	return s.SetRecoveryActionsOnNonCrashFailures(true)
}

func afterInstall() error { return setRecovery() }

// SetupInstalled finishes a service that the .msi registered (its
// ServiceInstall table cannot express ACLs or recovery actions): the
// directories' permissions and the restart-on-crash actions. The .msi
// runs it as a deferred custom action, as SYSTEM.
func SetupInstalled(configPath string) error {
	if err := prepare(configPath); err != nil {
		return fmt.Errorf("installer: %w", err)
	}
	if err := setRecovery(); err != nil {
		return fmt.Errorf("installer: recovery actions: %w", err)
	}
	// The Event Log source, which kardianos registers on `tezgah install`
	// and an .msi does not.
	if err := eventlog.InstallAsEventCreate(Name, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil && !strings.Contains(err.Error(), "exists") {
		return fmt.Errorf("installer: event log source: %w", err)
	}
	return nil
}
