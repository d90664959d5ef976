//go:build !windows

package installer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"

	"github.com/kardianos/service"
)

const notAdminMessage = "installing or controlling the service needs root: run it with sudo"

func isAdmin() bool { return os.Geteuid() == 0 }

// prepare creates the service user (as the .deb does) and makes the
// config readable by it and nobody else. Its undo deletes a user it
// created and gives the config's files their owner and mode back.
func prepare(configPath string) (undo func() error, err error) {
	var u undoList
	defer func() {
		if err != nil {
			err = errors.Join(err, u.run())
		}
	}()
	if _, err := user.Lookup(User); err != nil {
		out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", "/var/lib/tezgah", "--shell", "/usr/sbin/nologin",
			"--comment", "tezgah payment agent", User).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("create user %s: %v: %s", User, err, out)
		}
		u.add(func() error {
			if out, err := exec.Command("userdel", User).CombinedOutput(); err != nil {
				return fmt.Errorf("userdel %s: %v: %s", User, err, out)
			}
			return nil
		})
	}
	acct, err := user.Lookup(User)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", User, err)
	}
	gid, _ := strconv.Atoi(acct.Gid)
	// root owns the file, the service's group may read it: the service can
	// read its config but not change it. The directory only when it is
	// tezgah's own: `--config /tmp/t.toml` must not close /tmp.
	paths := map[string]os.FileMode{configPath: 0o640}
	if dir, ok := ownDir(configPath); ok {
		paths[dir] = 0o750
	}
	for p, mode := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		st := fi.Sys().(*syscall.Stat_t)
		old, uid, ogid := fi.Mode().Perm(), int(st.Uid), int(st.Gid)
		u.add(func() error {
			return errors.Join(os.Chown(p, uid, ogid), os.Chmod(p, old))
		})
		if err := os.Chown(p, 0, gid); err != nil {
			return nil, fmt.Errorf("chown %s: %w", p, err)
		}
		if err := os.Chmod(p, mode); err != nil {
			return nil, err
		}
	}
	return u.run, nil
}

// platformService: kardianos's systemd service registers the unit as is.
func platformService(s service.Service, _, _ string) service.Service { return s }

// settings: the unit file carries all of them.
func settings() []Step { return nil }

// SetupInstalled is the .msi's custom action; a Linux package does this
// in its maintainer scripts.
func SetupInstalled(string, func(string)) error {
	return errors.New("installer: setup-service is for the Windows installer; on Linux the .deb or `tezgah install` does this")
}
