//go:build windows

package installer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"github.com/kardianos/service"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/tezgah/tezgah/agent/config"
)

const notAdminMessage = "installing or controlling the service needs an administrator: open the command prompt with \"Run as administrator\""

func isAdmin() bool {
	return windows.GetCurrentProcessToken().IsElevated()
}

// prepare makes the config readable, and the data directory writable, by
// the service account only (and administrators): the config may hold
// secrets, and %ProgramData% is readable by every user. Its undo puts
// back the access lists it replaced and removes the directories it made.
func prepare(configPath string) (undo func() error, err error) {
	var u undoList
	defer func() {
		if err != nil {
			err = errors.Join(err, u.run())
		}
	}()
	data := config.ServiceDataDir()
	made, err := mkdirAll(data)
	if err != nil {
		return nil, err
	}
	u.add(func() error {
		var errs []error
		for i := len(made) - 1; i >= 0; i-- {
			errs = append(errs, os.Remove(made[i])) // fails if not empty: nothing is lost
		}
		return errors.Join(errs...)
	})
	// S-1-5-18 SYSTEM, S-1-5-32-544 Administrators, S-1-5-19 LocalService:
	// SIDs, because the names are translated on non-English Windows.
	conf := []string{configPath, "/inheritance:r", "/grant:r", "*S-1-5-18:F", "*S-1-5-32-544:F", "*S-1-5-19:RX"}
	if dir, ok := ownDir(configPath); ok {
		conf = []string{dir, "/inheritance:r", "/grant:r", "*S-1-5-18:(OI)(CI)F", "*S-1-5-32-544:(OI)(CI)F", "*S-1-5-19:(OI)(CI)RX"}
	}
	for _, args := range [][]string{conf, {data, "/grant:r", "*S-1-5-19:(OI)(CI)M"}} {
		restore, err := saveDACL(args[0])
		if err != nil {
			return nil, fmt.Errorf("read the access list of %s: %w", args[0], err)
		}
		u.add(restore)
		if out, err := exec.Command("icacls", args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("icacls %s: %v: %s", args[0], err, out)
		}
	}
	return u.run, nil
}

// mkdirAll is os.MkdirAll that returns the directories it created,
// outermost first.
func mkdirAll(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		missing = append([]string{d}, missing...)
		if filepath.Dir(d) == d {
			break
		}
	}
	return missing, os.MkdirAll(dir, 0o700)
}

// saveDACL reads path's access list and returns what writes it back,
// protected from inheritance or not as it was.
func saveDACL(path string) (func() error, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return nil, err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return nil, err
	}
	ctl, _, err := sd.Control()
	if err != nil {
		return nil, err
	}
	info := windows.SECURITY_INFORMATION(windows.DACL_SECURITY_INFORMATION | windows.UNPROTECTED_DACL_SECURITY_INFORMATION)
	if ctl&windows.SE_DACL_PROTECTED != 0 {
		info = windows.DACL_SECURITY_INFORMATION | windows.PROTECTED_DACL_SECURITY_INFORMATION
	}
	return func() error {
		return windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, info, nil, nil, dacl, nil)
	}, nil
}

// platformService registers the service with the Service Control Manager
// itself and leaves every later setting to settings(): kardianos's
// Install sets the recovery actions and the Event Log source in the same
// call and, when one is refused, leaves the service registered.
func platformService(s service.Service, exe, configPath string) service.Service {
	return registerOnly{Service: s, exe: exe, args: Args(configPath)}
}

type registerOnly struct {
	service.Service
	exe  string
	args []string
}

func (r registerOnly) Install() error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.CreateService(Name, r.exe, mgr.Config{
		DisplayName:      DisplayName,
		StartType:        mgr.StartAutomatic,
		ServiceStartName: WindowsAccount,
		ServiceType:      windows.SERVICE_WIN32_OWN_PROCESS,
	}, r.args...)
	if err != nil {
		return err
	}
	return s.Close()
}

// Uninstall deletes the service and its Event Log source, which is
// gone already when the system refused it at install.
func (r registerOnly) Uninstall() error {
	if err := withService(func(s *mgr.Service) error { return s.Delete() }); err != nil {
		return err
	}
	if err := eventlog.Remove(Name); err != nil && !errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
		return fmt.Errorf("remove the Event Log source: %w", err)
	}
	return nil
}

// settings are what the Service Control Manager holds beyond the
// registration, each through ChangeServiceConfig2 or the registry; a
// system may refuse any of them (Wine 8.0 refuses the non-crash flag with
// "Invalid level."), and the service runs without.
func settings() []Step {
	return []Step{
		{
			Name: "description", Optional: true,
			Without: "the services list shows no description",
			Do: func() (func() error, error) {
				return nil, withService(func(s *mgr.Service) error {
					d := windows.SERVICE_DESCRIPTION{Description: windows.StringToUTF16Ptr(Description)}
					return windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_DESCRIPTION, (*byte)(unsafe.Pointer(&d)))
				})
			},
		},
		{
			Name: "recovery actions", Optional: true,
			Without: "the service is not restarted after a crash: in services.msc, tezgah, Recovery, choose \"Restart the Service\" for all three failures",
			// Restart after every crash, 5 s later, counting failures
			// afresh after a day without one.
			Do: func() (func() error, error) {
				return nil, withService(func(s *mgr.Service) error {
					restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 5 * time.Second}
					return s.SetRecoveryActions([]mgr.RecoveryAction{restart, restart, restart}, uint32((24 * time.Hour).Seconds()))
				})
			},
		},
		{
			Name: "restart after a stop with an error", Optional: true,
			Without: "the service is restarted after a crash but not when the agent stops with an error (say, its port is taken): in services.msc, tezgah, Recovery, tick \"Enable actions for stops with errors\"",
			// The agent reports "stopped with an error" when it fails by
			// itself; that must restart it too, not only a crash.
			Do: func() (func() error, error) {
				return nil, withService(func(s *mgr.Service) error { return s.SetRecoveryActionsOnNonCrashFailures(true) })
			},
		},
		{
			Name: "Event Log source", Optional: true,
			Without: "the agent's log is in its data directory (logs\\tezgah.log) only, not in the Event Viewer",
			Do: func() (func() error, error) {
				err := eventlog.InstallAsEventCreate(Name, eventlog.Error|eventlog.Warning|eventlog.Info)
				if err != nil && strings.Contains(err.Error(), "exists") {
					return nil, nil // not ours to take away
				}
				if err != nil {
					return nil, err
				}
				return func() error { return eventlog.Remove(Name) }, nil
			},
		},
	}
}

func withService(f func(*mgr.Service) error) error {
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
	return f(s)
}

// SetupInstalled finishes a service that the .msi registered (its
// ServiceInstall table cannot express ACLs or recovery actions): the
// directories' permissions, the restart-on-crash actions and the Event
// Log source. The .msi runs it as a deferred custom action, as SYSTEM; a
// required step that fails undoes the others and fails the .msi, which
// then rolls back the registration.
func SetupInstalled(configPath string, warn func(string)) error {
	steps := append([]Step{{Name: "directories and permissions", Do: func() (func() error, error) {
		return prepare(configPath)
	}}}, settings()...)
	warnings, err := runSteps(steps)
	for _, w := range warnings {
		warn(w)
	}
	if err != nil {
		return fmt.Errorf("installer: %w", err)
	}
	return nil
}
