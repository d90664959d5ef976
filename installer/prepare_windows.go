//go:build windows

package installer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/windows"

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
