//go:build !windows

package installer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
)

const notAdminMessage = "installing or controlling the service needs root: run it with sudo"

func isAdmin() bool { return os.Geteuid() == 0 }

// prepare creates the service user (as the .deb does) and makes the
// config directory readable by it and nobody else.
func prepare(configPath string) error {
	if _, err := user.Lookup(User); err != nil {
		out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", "/var/lib/tezgah", "--shell", "/usr/sbin/nologin",
			"--comment", "tezgah payment agent", User).CombinedOutput()
		if err != nil {
			return fmt.Errorf("create user %s: %v: %s", User, err, out)
		}
	}
	u, err := user.Lookup(User)
	if err != nil {
		return fmt.Errorf("user %s: %w", User, err)
	}
	gid, _ := strconv.Atoi(u.Gid)
	// root owns the file, the service's group may read it: the service can
	// read its config but not change it.
	for _, p := range []string{filepath.Dir(configPath), configPath} {
		if err := os.Chown(p, 0, gid); err != nil {
			return fmt.Errorf("chown %s: %w", p, err)
		}
	}
	if err := os.Chmod(filepath.Dir(configPath), 0o750); err != nil {
		return err
	}
	return os.Chmod(configPath, 0o640)
}

func afterInstall() error { return nil }

// SetupInstalled is the .msi's custom action; a Linux package does this
// in its maintainer scripts.
func SetupInstalled(string) error {
	return errors.New("installer: setup-service is for the Windows installer; on Linux the .deb or `tezgah install` does this")
}
